#!/usr/bin/env bash
# install.sh — install dcvsr for people who do not start from Python.
#
# Usage:  installers/install.sh [--wheel FILE] [--env DIR] [--python PYTHON] [DCVSR-INSTALL-ARGUMENTS...]
#
# 1. creates a private Python environment (default: ${XDG_DATA_HOME:-~/.local/share}/dcvsr/env; an
#    existing one is reused, so running this again upgrades);
# 2. installs the dcvsr wheel into it: FILE, else the newest dist/dcvsr-*.whl of the checkout this
#    script is in, else that checkout itself (built from source: needs a C compiler);
# 3. runs `dcvsr install` there with the remaining arguments (e.g. --hosts ofx,service --system),
#    which puts the host plugins in place and records them in its manifest.
#
# Undo with `ENV/bin/dcvsr uninstall`, then remove ENV. Needs Python 3.11 or newer (--python, or
# python3 on PATH); pip fetches the dependencies (torch among them) from its configured index.
set -euo pipefail

die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 2; }
say() { printf 'install.sh: %s\n' "$*"; }

here="$(cd "$(dirname "$0")/.." && pwd)"
wheel=""
env_dir="${XDG_DATA_HOME:-$HOME/.local/share}/dcvsr/env"
python="python3"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --wheel) [[ $# -ge 2 ]] || die "--wheel needs a file"; wheel="$2"; shift 2 ;;
        --env) [[ $# -ge 2 ]] || die "--env needs a folder"; env_dir="$2"; shift 2 ;;
        --python) [[ $# -ge 2 ]] || die "--python needs an interpreter"; python="$2"; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) break ;;
    esac
done

command -v "$python" >/dev/null 2>&1 || die "no '$python' found: install Python 3.11 or newer, or name one with --python"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$("$python" -V 2>&1) is too old: dcvsr needs Python 3.11 or newer (--python PYTHON)"

if [[ -z "$wheel" ]]; then
    shopt -s nullglob
    built=("$here"/dist/dcvsr-*.whl)
    if [[ ${#built[@]} -gt 0 ]]; then
        wheel="$(ls -t "${built[@]}" | head -n 1)"
    elif [[ -f "$here/pyproject.toml" && -d "$here/dcvsr_engine" ]]; then
        wheel="$here"
    else
        die "no dcvsr wheel given (--wheel FILE) and no checkout around this script to build one from"
    fi
fi
[[ -e "$wheel" ]] || die "$wheel does not exist"

if [[ ! -x "$env_dir/bin/python" ]]; then
    say "creating the environment $env_dir"
    mkdir -p "$(dirname "$env_dir")"
    "$python" -m venv "$env_dir" || die "could not create a virtual environment in $env_dir (is python3-venv installed?)"
fi
say "installing $wheel into $env_dir"
"$env_dir/bin/python" -m pip install --upgrade "$wheel" || die "pip could not install $wheel (output above)"
say "running dcvsr install $*"
"$env_dir/bin/dcvsr" install "$@"
say "done: the dcvsr command is $env_dir/bin/dcvsr (add $env_dir/bin to PATH to type just dcvsr)"
