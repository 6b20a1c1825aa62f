#!/usr/bin/env bash
# crashtest.sh: kill -9 "hem dev" at random moments while "hem loadgen" sends,
# restart it 2 s later each time (loadgen keeps retrying), let the last run
# drain, then check every event loadgen was answered for, id by id:
#
#   accepted ids  against the warehouse's event tables (and _failed_events,
#                 where an accepted event that fails at load is recorded) and
#                 the archive's events/ Parquet files;
#   rejected ids  against _failed_events and the archive's failed/ files.
#
# It prints a table: per store, the ids expected, found, lost and duplicated.
#
#   go build -o /tmp/hem ./cmd/hem && HEM=/tmp/hem scripts/crashtest.sh
#
# Settings (environment): HEM (the binary, default hem), LOADGEN_HEM (the
# binary that runs loadgen, default HEM; it needs --rejected-ids), TRIALS (kills,
# default 5), RATE (events/s, default 2000), PORT (first of five ports,
# default 23000), DIR (the stack's folder, default a new temp folder, kept),
# PROTO (contracts, default proto), KILL_MIN/KILL_MAX (seconds of load between
# a start and its kill, default 3 and 10). CHECK_ONLY=1 DIR=... checks the
# folder of an earlier run again without running it.
set -euo pipefail

HEM=${HEM:-hem}
LOADGEN_HEM=${LOADGEN_HEM:-$HEM}
TRIALS=${TRIALS:-5}
RATE=${RATE:-2000}
PORT=${PORT:-23000}
DIR=${DIR:-$(mktemp -d "${TMPDIR:-/tmp}/hem-crashtest.XXXXXX")}
PROTO=${PROTO:-proto}
KILL_MIN=${KILL_MIN:-3}
KILL_MAX=${KILL_MAX:-10}

HTTP=127.0.0.1:$((PORT + 4))
COLLECTOR=127.0.0.1:$((PORT + 3))
OUT=$DIR/crashtest
mkdir -p "$OUT"
dev_pid=
loadgen_pid=

cleanup() {
	[[ -n $loadgen_pid ]] && kill -INT "$loadgen_pid" 2>/dev/null || true
	[[ -n $dev_pid ]] && kill -INT "$dev_pid" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap cleanup EXIT

start_dev() {
	"$HEM" dev --dir "$DIR" --proto "$PROTO" \
		--pubsub-addr "127.0.0.1:$PORT" --gcs-addr "127.0.0.1:$((PORT + 1))" \
		--registry-addr "127.0.0.1:$((PORT + 2))" --collector-addr "$COLLECTOR" \
		--http-addr "$HTTP" >>"$OUT/dev.log" 2>&1 &
	dev_pid=$!
	for _ in $(seq 240); do
		if curl -sf "http://$HTTP/readyz" >/dev/null; then
			return
		fi
		if ! kill -0 "$dev_pid" 2>/dev/null; then
			echo "crashtest: hem dev exited at start; see $OUT/dev.log" >&2
			exit 1
		fi
		sleep 0.25
	done
	echo "crashtest: hem dev not ready after 60 s; see $OUT/dev.log" >&2
	exit 1
}

if [[ -z ${CHECK_ONLY:-} ]]; then
	echo "crashtest: $TRIALS kills of hem dev under $RATE events/s in $DIR" >&2
	start_dev
	"$LOADGEN_HEM" loadgen --collector "$COLLECTOR" --api-key "$(cat "$DIR/dev-key")" \
		--rate "$RATE" --duration 0 --attempts 30 \
		--accepted-ids "$OUT/accepted" --rejected-ids "$OUT/rejected" \
		>"$OUT/loadgen.out" 2>"$OUT/loadgen.log" &
	loadgen_pid=$!

	for trial in $(seq "$TRIALS"); do
		wait_ms=$(((KILL_MIN * 1000) + RANDOM % ((KILL_MAX - KILL_MIN) * 1000 + 1)))
		sleep "$(printf '%d.%03d' $((wait_ms / 1000)) $((wait_ms % 1000)))"
		kill -9 "$dev_pid"
		wait "$dev_pid" 2>/dev/null || true
		echo "crashtest: trial $trial: killed hem dev after $wait_ms ms of load; restarting in 2 s" >&2
		sleep 2
		start_dev
	done

	# Some load on the last run, then loadgen stops sending and waits for every
	# answer (its client retries what the kills left unanswered).
	sleep 5
	kill -INT "$loadgen_pid"
	# Events loadgen got no answer for are neither accepted nor lost: its
	# report counts them as failed.
	wait "$loadgen_pid" || true
	loadgen_pid=
	echo "crashtest: loadgen: $(cat "$OUT/loadgen.out")" >&2
	# Ctrl-C drains the queues into the warehouse and the archive.
	kill -INT "$dev_pid"
	wait "$dev_pid" || true
	dev_pid=
fi

sql() { "$HEM" sql --dir "$DIR" --format csv "$1" | tail -n +2; }

# sql_all QUERY: every row of QUERY, a page at a time (hem sql returns at
# most 100 000 rows).
sql_all() {
	local page=100000 offset=0 n
	while :; do
		sql "select * from ($1) order by all limit $page offset $offset" >"$OUT/page.tmp"
		cat "$OUT/page.tmp"
		n=$(wc -l <"$OUT/page.tmp")
		((n < page)) && return
		offset=$((offset + page))
	done
}

# Base tables only: the <table>_latest views repeat their tables' rows.
tables=$(sql "select distinct c.table_name from information_schema.columns c join information_schema.tables t using (table_schema, table_name) where c.column_name = '_event_id' and c.table_name <> '_failed_events' and t.table_type = 'BASE TABLE' order by 1")
query=
for t in $tables; do
	query+="${query:+ union all }select _event_id as id from \"$t\""
done
sql_all "$query" >"$OUT/warehouse"
sql_all "select event_id from _failed_events" >"$OUT/failed_table"
sql_all "select _event_id from read_parquet('$DIR/gcs/hem-archive/events/**/*.parquet', union_by_name = true)" >"$OUT/archive"
# A failed event's row id is its Pub/Sub message id; the archive's failed/
# files hold the same id, so they are matched to producer ids through
# _failed_events.
sql_all "select _event_id, event_id from _failed_events" | tr ',' ' ' >"$OUT/failed_map"
if compgen -G "$DIR/gcs/hem-archive/failed/*" >/dev/null; then
	sql_all "select _event_id from read_parquet('$DIR/gcs/hem-archive/failed/**/*.parquet', union_by_name = true)" >"$OUT/archive_failed_rows"
else
	: >"$OUT/archive_failed_rows"
fi
awk 'NR == FNR { id[$1] = $2; next } ($1 in id) { print id[$1] }' "$OUT/failed_map" "$OUT/archive_failed_rows" >"$OUT/archive_failed"

sort -u "$OUT/accepted" >"$OUT/accepted.sorted"
sort -u "$OUT/rejected" >"$OUT/rejected.sorted"

# row NAME EXPECTED_SORTED FOUND_FILE...: ids expected, found, lost, and
# rows beyond one per expected id.
row() {
	local name=$1 expected=$2
	shift 2
	local n found lost dups
	n=$(wc -l <"$expected")
	cat "$@" | awk 'NR == FNR { want[$1]; next } ($1 in want)' "$expected" - | sort >"$OUT/rows.tmp"
	found=$(uniq "$OUT/rows.tmp" | wc -l)
	lost=$((n - found))
	dups=$(($(wc -l <"$OUT/rows.tmp") - found))
	printf '%-42s %10d %10d %8d %11d\n' "$name" "$n" "$found" "$lost" "$dups"
	rm -f "$OUT/rows.tmp"
	[[ $lost -eq 0 ]]
}

printf '\ntrials (kill -9): %d    loadgen: %s\n\n' "$TRIALS" "$(cat "$OUT/loadgen.out")"
printf '%-42s %10s %10s %8s %11s\n' store expected found lost duplicated
ok=0
row "accepted -> warehouse (+ _failed_events)" "$OUT/accepted.sorted" "$OUT/warehouse" "$OUT/failed_table" || ok=1
row "accepted -> archive events/" "$OUT/accepted.sorted" "$OUT/archive" || ok=1
row "rejected -> _failed_events" "$OUT/rejected.sorted" "$OUT/failed_table" || ok=1
row "rejected -> archive failed/" "$OUT/rejected.sorted" "$OUT/archive_failed" || ok=1
# Where the archive's duplicates come from: the same Pub/Sub message
# delivered again (same publish time: a sink wrote it, and the process died
# before its ack was durable), or the event published twice (a producer
# retried an event whose answer the kill cut off).
dup_split=$(sql "select count(*) - count(distinct (_event_id, _published_at)), count(distinct (_event_id, _published_at)) - count(distinct _event_id) from read_parquet('$DIR/gcs/hem-archive/events/**/*.parquet', union_by_name = true)")
printf '\narchive duplicates: %s redelivered (written, ack not yet durable), %s published twice (producer retries)\n' "${dup_split%%,*}" "${dup_split##*,}"
echo
echo "ids and logs: $OUT"
exit $ok
