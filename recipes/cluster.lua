-- cluster.lua: a three-node cluster. A control node holds an SSH key and an
-- Ansible inventory of the workers; each worker trusts the control node's
-- key, so `ansible all -m ping` on the control node reaches every worker by
-- name. The control node's public key crosses to the workers through
-- moonbase (ref("control").exec), never through a shared folder.
--
-- NEEDS INTERNET: the image comes from cloud-images.ubuntu.com and the
-- control node installs ansible from Ubuntu's archive. The nodes reach each
-- other by name (<project>-<node>.moonbase) over moonbase's private network
-- (run as root, or with CAP_NET_ADMIN).
--
--   moonbase up recipes/cluster.lua                     # control, worker1, worker2
--   moonbase up recipes/cluster.lua --param workers=4   # two more workers, joined
--   moonbase outputs recipes/cluster.lua ping
--   moonbase exec cluster-control -- sudo -u ansible ansible all -m ping
--   moonbase down recipes/cluster.lua --purge
project "cluster"
local image = param("image", "ubuntu:24.04", "image of every node")
local workers = param("workers", 2, "number of worker nodes")

-- the inventory lists workers by DNS name, so the control node needs none of
-- their addresses and does not wait for them
local inventory = "[workers]\n"
for i = 1, workers do
  inventory = inventory .. ref("worker" .. i).name .. ".moonbase\n"
end
inventory = inventory .. "\n[workers:vars]\nansible_user=ansible\n" ..
  "ansible_ssh_common_args='-o StrictHostKeyChecking=accept-new'\n"

instance "control" {
  image = image, cpus = 2, memory = "2G",
  provision = {
    sh [[
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -q
      apt-get install -y -q ansible-core
      id ansible >/dev/null 2>&1 || useradd --create-home --shell /bin/bash ansible
      install -d -m 700 -o ansible -g ansible /home/ansible/.ssh
      [ -f /home/ansible/.ssh/id_ed25519 ] ||
        sudo -u ansible ssh-keygen -q -t ed25519 -N '' -f /home/ansible/.ssh/id_ed25519
    ]],
    write { "/etc/ansible/hosts", inventory },
  },
  ready = probe.tcp(22),
}

for i = 1, workers do
  instance ("worker" .. i) {
    image = image, cpus = 1, memory = "1G",
    provision = {
      sh("id ansible >/dev/null 2>&1 || useradd --create-home --shell /bin/bash ansible\n" ..
        "install -d -m 700 -o ansible -g ansible /home/ansible/.ssh\n" ..
        "echo 'ansible ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/ansible"),
      -- the control node's key, read in the control node when this step runs
      write { "/home/ansible/.ssh/authorized_keys",
        ref("control").exec "cat /home/ansible/.ssh/id_ed25519.pub" .. "\n", mode = "0600" },
      sh "chown ansible:ansible /home/ansible/.ssh/authorized_keys",
    },
  }
end

-- the inventory names every worker; rewrite it when the count changes:
--   moonbase provision recipes/cluster.lua control
output("inventory", function(c) return c.exec("control", "cat /etc/ansible/hosts") end)

output("ping", function(c)
  return c.exec("control", "sudo -u ansible ansible all -m ping -o 2>&1 || true")
end)
