-- The three machines of tests/bench/vagrant/Vagrantfile, as a recipe: no
-- dependencies, so `moonbase up` launches them in parallel. Same image (the
-- Debian 12 test image the Vagrant box is made from), CPUs, memory and disk.
for _, n in ipairs({ "a", "b", "c" }) do
  instance (n) {
    image = "local:bookworm", cpus = 1, memory = "1G", disk = "3G",
    timeout = "30m", -- TCG on a busy 2-core host (as the Vagrantfile's boot_timeout)
  }
end
