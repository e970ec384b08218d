// The client commands' part of `cairn --help` (gateway/config.ts puts it together with serve's options).

import { defaultBroker, defaultTimeoutMs } from './args.ts'

export const clientCommandsHelp = `  produce  write records to a stream, one per input line
  consume  read records from a stream (to its end, or --follow)
  streams  list | create | describe | delete streams
  groups   list | describe consumer groups, or reset their offsets
  mirror   status of the upstream mirror, translate an offset between the gateway and Kafka, resolve a stopped partition
  status   one screen about the broker: listeners, clients, streams, groups, mirror links (HTTP API)`

// The same columns as serve's options in config.ts.
const row = (flag: string, text: string, env?: string) =>
  `      ${flag.padEnd(24)}${env === undefined ? text : `${text.padEnd(62)}env ${env}`}`

export const clientUsage = `Client commands (talk to a running broker over the native protocol):
  cairn produce STREAM [--file FILE] [--key-separator SEP] [--partition N] [--acks 0|1|all] [--header NAME=VALUE ...]
  cairn consume STREAM [--partition N ...] [--offset N|earliest|latest | --from TIME|DURATION] [--group GROUP]
                       [--max-records N] [--follow] [--format text|json] [--output FILE]
  cairn streams list
  cairn streams create NAME [--partitions N] [--retention DURATION|none] [--retention-bytes SIZE|none]
                       [--cleanup delete|compact] [--durability fsync|os] [--subject FILTER ...]
  cairn streams describe NAME
  cairn streams delete NAME [--yes]
  cairn groups list
  cairn groups describe GROUP
  cairn groups reset-offsets GROUP --stream STREAM [--partition N ...] [--dry-run]
                       (--to-earliest | --to-latest | --to-time TIME|DURATION | --shift-by N | --to-offset N)
  cairn mirror status
  cairn mirror translate STREAM PARTITION OFFSET [--to-local] [--position] [--link LINK]
  cairn mirror resolve STREAM PARTITION ACTION [--link LINK]
  cairn status [--http [HOST:]PORT] [--sample-ms N]

Options of the client commands:
${row('--broker HOST:PORT', `the broker's native listener (default ${defaultBroker})`, 'CAIRN_BROKER')}
${row('--timeout-ms N', `how long to try to connect (default ${defaultTimeoutMs})`)}
${row('--json', 'output one JSON document (consume: one JSON object per line)')}

produce: one record per line of stdin (or --file); with --key-separator the text before the first SEP is the key
  (a line without SEP has no key). Records are sent idempotently; exits 0 only once every record is acknowledged.
consume: reads to the log end as of the start and exits; --follow keeps reading until SIGINT/SIGTERM. The default
  start is earliest. --group joins the group, starts at its committed offsets and commits after each batch printed.
  Text format: the value, or key<TAB>value when the record has a key. JSON: {stream, partition, offset, timestamp,
  key, value, headers}, with base64 where bytes are not UTF-8 (keyEncoding/valueEncoding: "base64").
TIME is ISO 8601 (2026-11-21T10:00:00Z) or epoch milliseconds; DURATION is 90s, 15m, 2h, 1d, 1w (back from now).
mirror translate: where local record OFFSET of STREAM/PARTITION is in Kafka; --to-local: OFFSET is a Kafka offset
  of the mirrored partition, answered with the local one. --position translates a consumer position (the next
  offset to read) instead of a record, e.g. to move a group between the gateway and Kafka. LINK: default the first.
mirror resolve: ends a stopped partition (see mirror status): blocked-poison: retry (after fixing the cause
  upstream) or skip (drop the refused record, counted as a gap); paused-upstream-reset: remirror (everything still
  held locally goes up again) or continue (only what was not mirrored); paused-stream-recreated: remirror;
  diverged: rebase (a new map epoch; upstream keeps the records that did not fit).
status: reads GET /api/v1/status of the HTTP listener (--http, else CAIRN_HTTP, else 127.0.0.1:8080) twice,
  --sample-ms apart (default 1000; 0: once, no rates), for append and commit rates.
A negative shift is written --shift-by=-10. Without a terminal, streams delete needs --yes.`
