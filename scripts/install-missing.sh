# install-missing.sh — sourced by deps.sh and peers.sh: install_missing NAME
# WHAT PACKAGE... installs, with apt-get, those of the Debian packages that
# are not installed yet, and prints one line when all are. NAME prefixes the
# messages; WHAT says what the packages are for ("build and test", "peer").
# Exits the calling script: 0 when all are installed (or on a non-Debian
# system, with a note), 1 when it cannot become root.
install_missing() {
    local name=$1 what=$2
    shift 2
    local packages=("$@")

    if ! command -v dpkg >/dev/null 2>&1; then
        echo "$name: not a Debian system; make sure these are installed: ${packages[*]}" >&2
        exit 0
    fi

    local missing=() p status
    for p in "${packages[@]}"; do
        # The installed state itself, not mere knowledge of the package: dpkg
        # also knows removed packages whose configuration files remain.
        status=$(dpkg-query --show --showformat='${Status}' "$p" 2>/dev/null || true)
        if [ "$status" != "install ok installed" ]; then
            missing+=("$p")
        fi
    done

    if [ ${#missing[@]} -eq 0 ]; then
        echo "$name: all ${#packages[@]} $what packages are installed"
        exit 0
    fi

    echo "$name: missing: ${missing[*]}"
    local as_root=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            as_root=(sudo)
        else
            echo "$name: not root and no sudo; as root, run:" >&2
            echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
            exit 1
        fi
    fi

    set -x
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"
    exit 0
}
