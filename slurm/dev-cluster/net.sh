# Network of the multi-node dev cluster, sourced by start.sh, stop.sh and
# node.sh (not run on its own).
#
# One Linux bridge PREFIX-br holding SUBNET.1/24 in the host's namespace, and
# per node i a network namespace PREFIX-ni joined to the bridge by a veth
# pair: host end PREFIX-vi (enslaved to the bridge), namespace end eth0 with
# SUBNET.(10+i)/24. Nodes reach each other and the bridge address; nothing
# is routed anywhere else (no default route, no forwarding, no NAT).
# Everything created here carries the prefix and is removed by net_down.

NET_PREFIX=${CHORUS_NET_PREFIX:-chorus}
NET_SUBNET=${CHORUS_NET_SUBNET:-198.18.0}
NET_BRIDGE=$NET_PREFIX-br
NET_HEAD_ADDR=$NET_SUBNET.1

[[ $NET_PREFIX =~ ^[a-z][a-z0-9]{0,7}$ ]] \
    || { echo "CHORUS_NET_PREFIX must be 1-8 lower-case letters/digits, starting with a letter: '$NET_PREFIX'" >&2; exit 2; }
[[ $NET_SUBNET =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] \
    || { echo "CHORUS_NET_SUBNET must be three octets such as 198.18.0: '$NET_SUBNET'" >&2; exit 2; }

net_node_name() { echo "$NET_PREFIX-n$1"; }         # node i -> name (= namespace = hostname)
net_node_addr() { echo "$NET_SUBNET.$(( 10 + $1 ))"; }
net_veth() { echo "$NET_PREFIX-v$1"; }

# net_up N: create (or complete) the bridge and N nodes. Idempotent.
net_up() {
    local n=$1 i ns veth
    if ! ip link show "$NET_BRIDGE" >/dev/null 2>&1; then
        ip link add "$NET_BRIDGE" type bridge
    fi
    ip addr replace "$NET_HEAD_ADDR/24" dev "$NET_BRIDGE"
    ip link set "$NET_BRIDGE" up
    for (( i = 1; i <= n; i++ )); do
        ns=$(net_node_name "$i"); veth=$(net_veth "$i")
        [[ -e /run/netns/$ns ]] || ip netns add "$ns"
        if ! ip link show "$veth" >/dev/null 2>&1; then
            ip -n "$ns" link del eth0 2>/dev/null || true
            ip link add "$veth" type veth peer name eth0 netns "$ns"
        fi
        ip link set "$veth" master "$NET_BRIDGE" up
        ip -n "$ns" addr replace "$(net_node_addr "$i")/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$ns" link set lo up
    done
}

# net_down: remove every namespace, link and the bridge with our prefix.
net_down() {
    local ns veth
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$NET_PREFIX-n[0-9]+$" || true); do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
        ip netns del "$ns"
    done
    for veth in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' \
                    | grep -E "^$NET_PREFIX-v[0-9]+$" || true); do
        ip link del "$veth" 2>/dev/null || true
    done
    if ip link show "$NET_BRIDGE" >/dev/null 2>&1; then ip link del "$NET_BRIDGE"; fi
}

# net_nodes: how many node namespaces exist now.
net_nodes() {
    ip netns list 2>/dev/null | awk '{print $1}' | grep -cE "^$NET_PREFIX-n[0-9]+$" || true
}
