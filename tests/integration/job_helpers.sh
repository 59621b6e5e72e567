# Helpers for the integration tests that follow jobs through the chorus CLI.
# Sourced, not run; the test defines `chorus` (the CLI with its state
# directory) and `fail MESSAGE` (report and exit) before calling them.

# json_field JOB FIELD: one top-level field of `chorus status --output json`.
json_field() {
  chorus status "$1" --output json | /usr/bin/python3 -c "import json,sys; v=json.load(sys.stdin).get('$2'); print('' if v is None else v)"
}
# wait_state JOB STATE SECONDS: until the job is in STATE; fails on another end state or after SECONDS.
wait_state() {
  local s=""
  for _ in $(seq $(( $3 * 5 ))); do
    s=$(json_field "$1" state)
    [ "$s" = "$2" ] && return 0
    case "$s" in SUCCEEDED|FAILED|CANCELLED) break ;; esac
    sleep 0.2
  done
  fail "job $1 is '$s', expected $2 (reason: $(json_field "$1" reason))"
}
# step_of JOB: the step rank 0 last reported.
step_of() {
  chorus status "$1" --output json | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin).get('progress',{}).get('step',0))"
}
