#!/usr/bin/env bash
# A real virtual microphone on a machine without a sound card, for trying and testing
# `ser-live monitor` end to end.
#
#   eval "$(bash scripts/virtual_mic.sh start)"   # starts PulseAudio, prints the env to use
#   paplay --device=vsink speech.wav              # what is played into vsink...
#   ser-live monitor --headless                   # ...is what the default input (vmic) hears
#   bash scripts/virtual_mic.sh stop
#
# PulseAudio runs per user (root is fine) with a null sink `vsink` (16 kHz mono) whose monitor
# is remapped as the source `vmic`; both are the defaults. PortAudio (sounddevice) reaches it
# through ALSA's pulse plugin (libasound2-plugins) as the 'pulse' / 'default' device.
# sounddevice lists devices when it is imported: start this before importing it.
#
# `start` prints `export XDG_RUNTIME_DIR=...` and `export PULSE_SERVER=...` lines on stdout
# (everything else goes to stderr) so callers can eval them. The runtime folder is
# $SER_LIVE_PULSE_DIR, default /tmp/ser-live-pulse (mode 0700). `start` is idempotent;
# `status` exits 0 when the virtual microphone is up.
set -euo pipefail

DIR=${SER_LIVE_PULSE_DIR:-/tmp/ser-live-pulse}
RATE=${SER_LIVE_PULSE_RATE:-16000}
export XDG_RUNTIME_DIR=$DIR
export PULSE_RUNTIME_PATH=$DIR/pulse
export PULSE_SERVER=unix:$DIR/pulse/native
# keep PulseAudio's state out of $HOME (which may be read-only or shared)
export PULSE_STATE_PATH=$DIR/state

say() { echo "virtual_mic: $*" >&2; }

need() {
    for tool in pulseaudio pactl parec pacat; do
        command -v "$tool" >/dev/null || { say "$tool not found (apt-get install pulseaudio pulseaudio-utils)"; exit 3; }
    done
}

up() { pactl info >/dev/null 2>&1 && pactl list short sources 2>/dev/null | grep -w vmic >/dev/null; }

print_env() {
    echo "export XDG_RUNTIME_DIR=$DIR"
    echo "export PULSE_SERVER=$PULSE_SERVER"
}

alive() {  # running, not a zombie (an init that does not reap leaves those behind)
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ $state != Z* ]]
}

reader() {  # the low-latency reader of vsink's monitor, (re)started unless it is running
    if [ -f "$DIR/parec.pid" ] && alive "$(cat "$DIR/parec.pid")"; then
        return 0
    fi
    nohup parec -d vsink.monitor --latency-msec=20 --raw >/dev/null 2>&1 &
    echo $! >"$DIR/parec.pid"
}

start() {
    need
    mkdir -p "$DIR" "$PULSE_RUNTIME_PATH" "$PULSE_STATE_PATH"
    chmod 0700 "$DIR" "$PULSE_RUNTIME_PATH" "$PULSE_STATE_PATH"
    if up; then
        reader
        say "already running ($PULSE_SERVER)"
        print_env
        return 0
    fi
    # a daemon of ours that lost its modules, or a stale socket/pid: start over
    pulseaudio --kill >/dev/null 2>&1 || true
    rm -f "$PULSE_RUNTIME_PATH/native" "$PULSE_RUNTIME_PATH/pid"
    # -n: no default.pa (no hardware probing); modules given here only.
    # --exit-idle-time=-1: stay up between clients; --system=no: per-user, also as root.
    pulseaudio --daemonize=yes -n --system=no --exit-idle-time=-1 --disallow-exit=no \
        --use-pid-file=yes --log-target=file:"$DIR/pulseaudio.log" \
        --load="module-native-protocol-unix auth-anonymous=1" \
        --load="module-null-sink sink_name=vsink rate=$RATE channels=1 sink_properties=device.description=ser-live-virtual-speaker" \
        --load="module-remap-source master=vsink.monitor source_name=vmic source_properties=device.description=ser-live-virtual-mic" \
        || { say "pulseaudio failed to start; log: $DIR/pulseaudio.log"; tail -n 20 "$DIR/pulseaudio.log" >&2 || true; exit 1; }
    for _ in $(seq 1 50); do
        up && break
        sleep 0.1
    done
    up || { say "pulseaudio did not come up; log: $DIR/pulseaudio.log"; tail -n 20 "$DIR/pulseaudio.log" >&2 || true; exit 1; }
    pactl set-default-sink vsink
    pactl set-default-source vmic
    # A fresh null sink gives a new capture stream no audio for ~2 s until something reads
    # its monitor with a short latency: keep a low-latency reader connected, and play a
    # moment of silence once so the sink has run.
    reader
    head -c $((RATE / 10 * 2)) /dev/zero | pacat --playback -d vsink --raw --format=s16le \
        --rate="$RATE" --channels=1 >/dev/null 2>&1 || true
    say "virtual microphone up: play into 'vsink', capture from 'vmic' ($PULSE_SERVER)"
    print_env
}

stop() {
    if [ -f "$DIR/parec.pid" ]; then
        kill "$(cat "$DIR/parec.pid")" 2>/dev/null || true
        rm -f "$DIR/parec.pid"
    fi
    local pid=""
    [ -f "$PULSE_RUNTIME_PATH/pid" ] && pid=$(tr -dc 0-9 <"$PULSE_RUNTIME_PATH/pid")
    if command -v pulseaudio >/dev/null; then
        pulseaudio --kill >/dev/null 2>&1 || true
    fi
    for _ in $(seq 1 50); do  # until the daemon is gone, not just its socket
        if ! pactl info >/dev/null 2>&1 && { [ -z "$pid" ] || ! alive "$pid"; }; then
            break
        fi
        sleep 0.1
    done
    say "stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) if up; then say "up ($PULSE_SERVER)"; print_env; else say "down"; exit 1; fi ;;
    env) print_env ;;
    *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
