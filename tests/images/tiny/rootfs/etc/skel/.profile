# ~/.profile
[ -f "$HOME/.shrc" ] && . "$HOME/.shrc"
