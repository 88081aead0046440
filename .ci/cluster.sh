#!/usr/bin/env bash
# make cluster-up | cluster-down | cluster-test: deploy/compose.yaml with podman or docker.
#   up    build the image, start PostgreSQL, migrations, two instances and nginx
#   down  stop and remove the containers (the named volumes are kept; down -v drops them)
#   test  up on a throwaway project with generated secrets, a prediction through nginx is
#         audited in PostgreSQL, then everything (volumes too) is removed
# Where no engine or no compose front-end exists, `test` says so and exits 0: the same
# behaviour is covered without containers by tests/cluster (make test).
#
# On a machine where podman runs as root (the CI machines), `test` first prepares what is
# missing, and nothing that is already there:
#   - podman, runc, mmdebstrap and the engine configuration (.ci/podman-setup.sh);
#   - podman-compose when no compose front-end exists (podman 4.3 has no `podman compose`):
#     PODMAN_COMPOSE_VERSION from PyPI into its own virtualenv, PODMAN_COMPOSE_VENV (never the
#     project's .venv);
#   - the images deploy/compose.yaml names and the Dockerfile's base, when they are not in
#     local storage and cannot be pulled: STAND-INS built from Debian packages for this kind of
#     machine only (.ci/cluster-stand-ins.sh, .ci/podman-setup.sh). The compose file and the
#     Dockerfile keep naming the official images, which are pulled everywhere else.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/lib.sh
action=${1:?usage: cluster.sh up|down|test}
COMPOSE_FILE=deploy/compose.yaml
PODMAN_COMPOSE_VENV=${PODMAN_COMPOSE_VENV:-/opt/podman-compose}
PODMAN_COMPOSE_VERSION=${PODMAN_COMPOSE_VERSION:-1.6.0}
started=$SECONDS

log() { echo "cluster [$((SECONDS - started))s]: $*" >&2; }

compose_command() {
    if command -v podman >/dev/null && podman compose version >/dev/null 2>&1; then
        echo "podman compose"
    elif command -v podman-compose >/dev/null; then
        echo "podman-compose"
    elif [[ -x $PODMAN_COMPOSE_VENV/bin/podman-compose ]]; then
        echo "$PODMAN_COMPOSE_VENV/bin/podman-compose"
    elif command -v docker >/dev/null && docker compose version >/dev/null 2>&1; then
        echo "docker compose"
    fi
}

prepare_podman() {
    bash .ci/cluster-stand-ins.sh  # runs podman-setup.sh first
    if [[ -z $(compose_command) ]]; then
        log "installing podman-compose $PODMAN_COMPOSE_VERSION into $PODMAN_COMPOSE_VENV"
        python3 -m venv "$PODMAN_COMPOSE_VENV"
        "$PODMAN_COMPOSE_VENV/bin/pip" install -q "podman-compose==$PODMAN_COMPOSE_VERSION"
    fi
}

# TLS when deploy/tls holds the certificate and its key (deploy/tls/README.md), unless
# deploy/.env or the environment already chose the site.
choose_site() {
    [[ -s deploy/tls/server.crt && -s deploy/tls/server.key ]] || return 0
    [[ -z ${VIGIE_NGINX_SITE:-} ]] && ! grep -qE '^VIGIE_(HTTPS|NGINX_SITE)=' deploy/.env \
        || return 0
    export VIGIE_HTTPS=1 VIGIE_NGINX_SITE=https
    log "deploy/tls holds server.crt and server.key: TLS site, VIGIE_HTTPS=1"
}

if [[ $action == test && $(id -u) == 0 ]] && command -v podman >/dev/null \
        && ! { command -v docker >/dev/null && docker info >/dev/null 2>&1; }; then
    prepare_podman
fi
compose=$(compose_command)
if [[ -z $compose ]]; then
    echo "cluster: no container engine with compose here (podman compose, podman-compose or" \
         "docker compose)."
    if [[ $action == test ]]; then
        echo "cluster: skipped; tests/cluster runs the same cluster without containers" \
             "(real PostgreSQL, nginx, two gunicorns) in make test."
        exit 0
    fi
    exit 1
fi

# One service after the other, each once what it needs is ready. The compose file's
# depends_on says the same, but podman-compose on podman 4.3 neither waits for service_healthy
# ("podman 4.3.1 doesn't support healthy") nor can start a container whose dependency has its
# own ("generating dependency graph ... depends on container ... not found in input list").
start_cluster() {
    $compose "$@" up -d --no-deps db
    local waited=0
    until $compose "$@" exec -T db pg_isready -q -U vigie_owner -d vigie 2>/dev/null; do
        ((waited++ < 60)) || { log "PostgreSQL not ready after 60 s"; $compose "$@" logs db; return 1; }
        sleep 1
    done
    log "PostgreSQL ready"
    $compose "$@" run --rm --no-deps migrate  # migrations, then the first model
    log "schema migrated, first model trained"
    $compose "$@" up -d --no-deps vigie1 vigie2
    $compose "$@" up -d --no-deps nginx
}

# Build the image once (podman-compose would build it once per service, in parallel).
build_image() {
    IMAGE=vigie TAG=${VIGIE_TAG:-cluster} bash .ci/docker-build.sh
}

case $action in
up)
    [[ -f deploy/.env ]] || { echo "cluster: copy deploy/env.example to deploy/.env and set" \
                                   "its passwords first" >&2; exit 1; }
    choose_site
    build_image
    start_cluster -f "$COMPOSE_FILE" --env-file deploy/.env
    echo "cluster: http://127.0.0.1:$(grep -E '^VIGIE_HTTP_PORT=' deploy/.env | cut -d= -f2 \
        || echo 8080)"
    ;;
down)
    $compose -f "$COMPOSE_FILE" --env-file deploy/.env down
    ;;
test)
    # CLUSTER_TLS=1: the TLS site, with a throwaway self-signed certificate for 127.0.0.1.
    tls=${CLUSTER_TLS:-0}
    env_file=$(mktemp)
    work=$(mktemp -d)
    port=$(free_port)
    https_port=$(free_port)
    subnet=$((200 + RANDOM % 50))  # the front network of this throwaway project only
    site=http
    if [[ $tls == 1 ]]; then
        site=https
        openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
            -addext subjectAltName=IP:127.0.0.1 -keyout "$work/server.key" \
            -out "$work/server.crt" 2>/dev/null
    fi
    cat > "$env_file" <<ENV
VIGIE_DB_OWNER_PASSWORD=$(openssl rand -hex 16)
VIGIE_DB_APP_PASSWORD=$(openssl rand -hex 16)
VIGIE_SECRET_KEY=$(openssl rand -hex 32)
VIGIE_MODEL_SIGNING_KEY=$(openssl rand -hex 32)
VIGIE_ADMIN_PASSWORD=cluster-test-admin
VIGIE_HTTP_PORT=$port
VIGIE_HTTPS_PORT=$https_port
VIGIE_HTTPS=$tls
VIGIE_NGINX_SITE=$site
VIGIE_TLS_DIR=$work
VIGIE_FRONT_NET=10.89.$subnet
ENV
    project=(-p "vigie-cluster-test-$$" -f "$COMPOSE_FILE" --env-file "$env_file")
    trap '$compose "${project[@]}" down -v >/dev/null 2>&1 || true; rm -rf "$env_file" "$work"' EXIT
    build_image
    log "image built"
    start_cluster "${project[@]}"
    if [[ $tls == 1 ]]; then
        base="https://127.0.0.1:$https_port"
        curl() { command curl --cacert "$work/server.crt" "$@"; }
        inside=https://nginx  # from a container: nginx's TLS site (the certificate names 127.0.0.1)
    else
        base="http://127.0.0.1:$port"
        inside=http://nginx
    fi
    for _ in $(seq 120); do
        curl -fsS "$base/readyz" >/dev/null 2>&1 && break
        sleep 1
    done
    log "ready through nginx: $(curl -fsS "$base/readyz")"
    if [[ $tls == 1 ]]; then
        redirect=$(command curl -s -o /dev/null -w '%{http_code} %{redirect_url}' \
            "http://127.0.0.1:$port/readyz?x=1")
        [[ $redirect == "308 https://127.0.0.1/readyz?x=1" ]] \
            || { echo "cluster-test: plain HTTP answered '$redirect', not a 308 to https://" >&2; exit 1; }
        log "plain HTTP answers $redirect (the TLS site's standard port)"
    fi
    vigie() { $compose "${project[@]}" exec -T "$@"; }
    operator=$(vigie vigie1 flask --app webapp apikeys create cluster-operator --role operator | tail -n 1)
    admin=$(vigie vigie1 flask --app webapp apikeys create cluster-admin --role admin | tail -n 1)
    reading='{"asset":"pump-1","readings":[{"Accelerometer1RMS":0.2,"Accelerometer2RMS":0.27,"Current":2.17,"Pressure":0.38,"Temperature":90.6,"Thermocouple":26.8,"Voltage":238.8,"Volume Flow RateRMS":122.6}]}'
    field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
    answer=$(curl -fsS -H "X-API-Key: $operator" -H 'Content-Type: application/json' \
        -d "$reading" "$base/api/v1/predict")
    request_id=$(field "$answer" request_id)
    rows=$(vigie db psql -U vigie_owner -d vigie -tAc \
        "SELECT count(*) FROM audit WHERE request_id = '$request_id'")
    [[ $rows == 1 ]] || { echo "cluster-test: expected 1 audit row for $request_id, found $rows" >&2; exit 1; }
    log "prediction $request_id ($(field "$answer" model_version)) through nginx audited once in PostgreSQL"

    # A switch made through nginx (which sends it to the writer) answers from both instances
    # within a second: from inside vigie1, switch through http://nginx, then ask each instance
    # directly (vigie2 over the front network) until it answers the new version.
    version=$(vigie vigie1 flask --app webapp train --asset pump-1 --data data/anomaly-free.csv | tail -n 1)
    log "trained pump-1 $version on vigie1 (not active)"
    seen=$(vigie vigie1 python - "$admin" "$operator" "$reading" "$version" "$inside" <<'PYTHON'
import json, ssl, sys, time, urllib.request
admin, operator, reading, wanted, nginx = sys.argv[1:]

def post(url, key, body):
    request = urllib.request.Request(url, data=body.encode(), headers={
        "X-API-Key": key, "Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request, timeout=10,
                                            context=ssl._create_unverified_context()))

post(nginx + "/api/v1/models/active", admin, json.dumps(
    {"asset": "pump-1", "version": wanted, "reason": "make cluster-test"}))
switched = time.monotonic()
for name, url in (("vigie1", "http://127.0.0.1:8000"), ("vigie2", "http://vigie2:8000")):
    while True:
        answer = post(url + "/api/v1/predict", operator, reading)
        took = time.monotonic() - switched
        if answer["model_version"] == wanted or took > 5:
            print(name, answer["model_version"], answer["request_id"], f"{took:.2f}")
            break
        time.sleep(0.02)
PYTHON
)
    [[ $(wc -l <<<"$seen") == 2 ]] || { echo "cluster-test: expected two instances: $seen" >&2; exit 1; }
    while read -r instance answered id took <&3; do
        [[ $answered == "$version" ]] && python3 -c 'import sys; sys.exit(float(sys.argv[1]) >= 1)' "$took" \
            || { echo "cluster-test: $instance answered $answered ${took} s after the switch to $version" >&2; exit 1; }
        rows=$(vigie db psql -U vigie_owner -d vigie -tAc \
            "SELECT count(*) FROM audit WHERE request_id = '$id' AND model_version = '$version'")
        [[ $rows == 1 ]] || { echo "cluster-test: no audit row for $id ($instance)" >&2; exit 1; }
        log "$instance answers $version ${took} s after the switch, audited once ($id)"
    done 3<<<"$seen"  # not stdin: compose exec reads it
    # Forwarded headers are believed from nginx only: from inside vigie2 (an address of the
    # front network that is not nginx's), a failed sign-in with a forged X-Forwarded-For through
    # nginx, and the same straight to vigie1. Both must be counted against vigie2's address:
    # through nginx that is what nginx says (not nginx's own address), straight the forged
    # header is ignored.
    addresses=$(vigie vigie2 python - "$inside" <<'PYTHON'
import http.cookiejar, re, socket, ssl, sys, urllib.error, urllib.parse, urllib.request
nginx = sys.argv[1]
def source_towards(host):
    """The address this container's packets to `host` leave from (it is on two networks)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.connect((socket.gethostbyname(host), 8000))
    return probe.getsockname()[0]

vigie1 = socket.gethostbyname("vigie1")
class AnyScheme(http.cookiejar.DefaultCookiePolicy):
    def return_ok_secure(self, cookie, request):  # a forger sends Secure cookies over HTTP too
        return True

def failed_login(base, name):
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar(policy=AnyScheme())),
        urllib.request.HTTPSHandler(context=ssl._create_unverified_context()))
    page = opener.open(base + "/login", timeout=10).read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"username": name, "password": "wrong",
                                   "csrf_token": token}).encode()
    request = urllib.request.Request(base + "/login", data=data, headers={
        "Referer": base + "/login", "X-Forwarded-For": "203.0.113.9"})
    try:
        opener.open(request, timeout=10)
    except urllib.error.HTTPError as error:
        assert error.code == 401, (base, error.code)

failed_login(nginx, "cluster-test-via-nginx")
print("cluster-test-via-nginx", source_towards("nginx"))
failed_login(f"http://{vigie1}:8000", "cluster-test-direct")
print("cluster-test-direct", source_towards(vigie1))
PYTHON
)
    while read -r name expected <&3; do
        recorded=$(vigie db psql -U vigie_owner -d vigie -tAc \
            "SELECT string_agg(address, ',') FROM login_failures WHERE username = '$name'" </dev/null)
        [[ $recorded == "$expected" ]] || { echo "cluster-test: $name counted against '$recorded', not $expected" >&2; exit 1; }
        log "$name: counted against $expected, the sender's address (its forged X-Forwarded-For ignored)"
    done 3<<<"$addresses"
    log "passed"
    ;;
*)
    echo "usage: cluster.sh up|down|test" >&2; exit 2 ;;
esac
