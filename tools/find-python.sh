# Sourced by tools/*.sh. find_python 3.X prints the path of that CPython: pyenv's newest 3.X.Y when pyenv is
# there, else python3.X from PATH; prints nothing when there is none.
find_python() {
    local v=$1 full p
    if command -v pyenv >/dev/null 2>&1; then
        full=$(pyenv versions --bare --skip-aliases 2>/dev/null | grep -E "^${v//./\\.}\.[0-9]+$" | sort -t. -k3 -n | tail -1 || true)
        p=$(pyenv root)/versions/$full/bin/python$v
        if [ -n "$full" ] && [ -x "$p" ]; then
            echo "$p"
            return
        fi
    fi
    p=$(command -v "python$v" 2>/dev/null || true)
    if [ -n "$p" ] && "$p" -c 'import sys; sys.exit(sys.implementation.name != "cpython")' 2>/dev/null; then
        echo "$p"
    fi
}
