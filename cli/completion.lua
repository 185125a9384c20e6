-- moonbase completion bash|zsh|fish: the shell side of completion; the
-- candidates come from `moonbase completion --candidates -- WORDS...`
-- (moonbase.completion), so they follow the commands' own option tables.
local completion = require("moonbase.completion")
local commands = require("moonbase.commands")
local errors = require("moonbase.errors")

local function option_kind(opt)
  if opt.complete then return opt.complete end
  if opt.type == "enum" then return opt.values end
  local mv = (opt.metavar or ""):upper()
  if mv:find("DIR") or mv:find("SRC") then return "dir" end
  if mv:find("FILE") or mv:find("PATH") then return "file" end
  return nil
end

local function spec_of(cmd)
  local spec = { commands.help_option }
  for _, o in ipairs(cmd.options or {}) do spec[#spec + 1] = o end
  return spec
end

-- the kind of the n-th positional (1-based) given the positionals so far
local function positional_kind(cmd, n, positionals)
  local c = cmd.complete
  if not c then return nil end
  if c.sub then
    if n == 1 then
      local subs = {}
      for k in pairs(c.sub) do subs[#subs + 1] = k end
      table.sort(subs)
      return subs
    end
    local sub = c.sub[positionals[1]]
    if not sub then return nil end
    local k = sub[n - 1]
    if k == nil and sub.rest then k = sub[#sub] end
    return k
  end
  local k = c[n]
  if k == nil and c.rest then k = c[#c] end
  return k
end

-- the candidates for the last word of words (the words after "moonbase"; the
-- last one is what is being typed, maybe "")
local function candidates(words)
  local cur = words[#words] or ""
  -- global options come first; skip them
  local i = 1
  while i < #words and words[i]:sub(1, 1) == "-" do i = i + 1 end
  if i == #words then
    if cur:sub(1, 1) == "-" then return completion.filter(completion.global_options, cur) end
    return completion.filter(completion.of_kind("command"), cur)
  end
  local name = words[i]
  local cmd
  if commands.is_bundled(name) then
    local ok, c = pcall(require, "cli." .. name)
    cmd = ok and c or nil
  end
  if not cmd then return { completion.FILES } end
  local spec = spec_of(cmd)
  local long, short = {}, {}
  for _, o in ipairs(spec) do
    long[o[1]] = o
    if o[2] then short[o[2]] = o end
  end
  local function takes_value(o) return o and (o.type or "string") ~= "flag" end
  local positionals, after_dashes, pending = {}, false, nil
  local j = i + 1
  while j < #words do
    local w = words[j]
    local o
    if after_dashes then
      positionals[#positionals + 1] = w
    elseif w == "--" then
      after_dashes = true
    elseif w:sub(1, 2) == "--" then
      o = not w:find("=", 1, true) and long[w:sub(3)] or nil
    elseif w:sub(1, 1) == "-" and #w > 1 then
      o = #w == 2 and short[w:sub(2)] or nil
    else
      positionals[#positionals + 1] = w
    end
    if takes_value(o) then
      if j + 1 == #words then pending = o end -- the word being typed is its value
      j = j + 1
    end
    j = j + 1
  end
  if pending then
    local kind = option_kind(pending)
    return kind and completion.filter(completion.of_kind(kind), cur) or {}
  end
  local lopt, value = cur:match("^%-%-([^=]+)=(.*)$")
  if lopt and long[lopt] and not after_dashes then
    local kind = option_kind(long[lopt])
    local out = {}
    for _, v in ipairs(kind and completion.filter(completion.of_kind(kind), value) or {}) do
      out[#out + 1] = v:sub(1, 1) == "@" and v or ("--" .. lopt .. "=" .. v)
    end
    return out
  end
  if cur:sub(1, 1) == "-" and not after_dashes then
    local out = {}
    for _, opt in ipairs(spec) do
      if not opt.hidden then
        out[#out + 1] = "--" .. opt[1]
        if (opt.type or "string") == "flag" and opt.negatable then
          out[#out + 1] = "--no-" .. opt[1]
        end
      end
    end
    return completion.filter(out, cur)
  end
  if after_dashes and cmd.complete and cmd.complete.command_after_dashes then return {} end
  local kind = positional_kind(cmd, #positionals + 1, positionals)
  if not kind then return {} end
  if kind == "setting-assign" and cur:find("=", 1, true) then
    return completion.filter(completion.setting_values(cur:match("^([^=]*)=")), cur)
  end
  return completion.filter(completion.of_kind(kind), cur)
end

local bash = [=[
# bash completion for moonbase (moonbase completion bash)
_moonbase() {
    local line=${COMP_LINE:0:COMP_POINT} IFS=$' \t\n' words cur out
    read -ra words <<< "$line"
    [[ $line =~ [[:space:]]$ ]] && words+=("")
    cur=${words[${#words[@]}-1]}
    out=$(command moonbase completion --candidates -- "${words[@]:1}" 2>/dev/null) || return 0
    local IFS=$'\n'
    local -a cands=($out)
    COMPREPLY=()
    case ${cands[0]} in
    @files) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")) ;;
    @dirs) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")) ;;
    @recipes)
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -d -- "$cur") $(compgen -f -X '!*.lua' -- "$cur")) ;;
    esac
    local c
    for c in "${cands[@]}"; do
        [[ $c == @* ]] || COMPREPLY+=("$c")
    done
    # bash splits words at : and =; reply with what follows the last of them
    local pre=${cur%"${cur##*[:=]}"}
    if [[ -n $pre && $COMP_WORDBREAKS == *[:=]* ]]; then
        local -a trimmed=()
        for c in "${COMPREPLY[@]}"; do
            c=${c#"$pre"}
            [[ -n $c ]] && trimmed+=("$c")
        done
        COMPREPLY=("${trimmed[@]}")
    fi
    [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *[:=] ]] && compopt -o nospace 2>/dev/null
    return 0
}
complete -F _moonbase moonbase
]=]

local zsh = [=[
#compdef moonbase
# zsh completion for moonbase (moonbase completion zsh)
_moonbase() {
    local -a cands plain
    local c
    cands=("${(@f)$(command moonbase completion --candidates -- "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    for c in $cands; do
        case $c in
        @files) _files ;;
        @dirs) _files -/ ;;
        @recipes) _files -g '*.lua(-.)' ;;
        '') ;;
        *) plain+=("$c") ;;
        esac
    done
    (( ${#plain} )) || return 0
    local -a nospace spaced
    for c in $plain; do
        if [[ $c == *[:=] ]]; then nospace+=("$c"); else spaced+=("$c"); fi
    done
    (( ${#spaced} )) && compadd -Q -- $spaced
    (( ${#nospace} )) && compadd -Q -S '' -- $nospace
    return 0
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _moonbase "$@"
else
    compdef _moonbase moonbase
fi
]=]

local fish = [=[
# fish completion for moonbase (moonbase completion fish)
function __moonbase_complete
    set -l words (commandline -opc) (commandline -ct)
    set -e words[1]
    for c in (command moonbase completion --candidates -- $words 2>/dev/null)
        switch $c
            case @files @recipes
                __fish_complete_path (commandline -ct)
            case @dirs
                __fish_complete_directories (commandline -ct)
            case '*'
                echo $c
        end
    end
end
complete -c moonbase -f -a '(__moonbase_complete)'
]=]

local scripts = { bash = bash, zsh = zsh, fish = fish }

return {
  summary = "Print the shell completion script for bash, zsh or fish",
  usage = "moonbase completion bash|zsh|fish",
  description = "Commands, options, option values, and instance, image, network, alias, " ..
    "remote and setting names complete from live data. The set-up installs the scripts; " ..
    "to load one by hand: source <(moonbase completion bash) in ~/.bashrc, " ..
    "moonbase completion zsh > \"${fpath[1]}/_moonbase\", or moonbase completion fish > " ..
    "~/.config/fish/completions/moonbase.fish.",
  complete = { { "bash", "zsh", "fish" } },
  options = {
    { "candidates", type = "flag", hidden = true,
      help = "print the candidates for the words after --" },
  },
  run = function(opts)
    if opts.candidates then
      local words = {}
      for i = 1, #opts do words[i] = opts[i] end
      if #words == 0 then words[1] = "" end
      for _, n in ipairs(commands.bundled()) do
        local ok, cmd = pcall(require, "cli." .. n)
        if ok and cmd.hidden then completion.hidden[n] = true end
      end
      for _, c in ipairs(candidates(words)) do io.stdout:write(c, "\n") end
      return 0
    end
    if #opts ~= 1 or not scripts[opts[1]] then
      errors.usage("completion needs one of: bash, zsh, fish (try: moonbase completion bash)")
    end
    io.stdout:write(scripts[opts[1]])
    return 0
  end,
}
