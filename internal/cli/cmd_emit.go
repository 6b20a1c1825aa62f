package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/hemlabs/hem/client"
	"github.com/hemlabs/hem/contract"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	"github.com/hemlabs/hem/registry"
)

// emitConfig is the configuration of "hem emit".
type emitConfig struct {
	clientFlags
	Type     string
	JSON     string
	EventID  string
	SchemaID int64
	Attrs    attrFlag
	Timeout  time.Duration
}

// attrFlag collects repeated --attr k=v.
type attrFlag map[string]string

func (a *attrFlag) String() string {
	var kv []string
	for k, v := range *a {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

func (a *attrFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	if *a == nil {
		*a = attrFlag{}
	}
	(*a)[k] = v
	return nil
}

func (c *emitConfig) bind(fs *flag.FlagSet) {
	c.clientFlags.bind(fs)
	c.bindCollector(fs)
	fs.StringVar(&c.Type, "type", "", "event type (subject), e.g. shop.orders.v1.OrderPlaced")
	fs.StringVar(&c.JSON, "json", "", "the event's payload as contract JSON (protojson), or @FILE to read it from a file")
	fs.StringVar(&c.EventID, "event-id", "", "event id (default: a fresh UUIDv7)")
	fs.Int64Var(&c.SchemaID, "schema-id", 0, "pin a schema id (default: the latest usable version)")
	fs.Var(&c.Attrs, "attr", "producer attribute key=value (repeatable)")
	fs.DurationVar(&c.Timeout, "timeout", time.Minute, "how long to wait for the answers")
}

func emitCommand() *Command {
	var cfg emitConfig
	return &Command{
		Name:    "emit",
		Args:    "[-]",
		Summary: "send events to the collector",
		Help: `Sends one event (--type and --json) or, with "-", newline-delimited JSON
envelopes from standard input, one per line:

  {"type": "shop.orders.v1.OrderPlaced", "event_id": "...", "event_time": "2026-11-22T10:00:00Z",
   "attributes": {"k": "v"}, "payload": {...contract JSON...}}

Only type and payload are required. The JSON is read with the contract's
descriptors from the registry. Prints one line per event, ACCEPTED or REJECTED
with its violations, and exits 1 when any event was not accepted.`,
		Flags: cfg.bind,
		Run: func(ctx context.Context, io IO, args []string) error {
			return runEmit(ctx, io, &cfg, args)
		},
	}
}

// emitLine is one NDJSON line of "hem emit -".
type emitLine struct {
	Type       string            `json:"type"`
	EventID    string            `json:"event_id"`
	EventTime  string            `json:"event_time"`
	SchemaID   int64             `json:"schema_id"`
	Attributes map[string]string `json:"attributes"`
	Payload    json.RawMessage   `json:"payload"`
}

// pending is one event on its way, or one that failed before it left.
type pending struct {
	label  string // type, for the output
	res    *client.Result
	failed string // set when it never left: why
}

func runEmit(ctx context.Context, io IO, cfg *emitConfig, args []string) error {
	stdin := len(args) == 1 && args[0] == "-"
	switch {
	case len(args) > 1 || (len(args) == 1 && !stdin):
		return fmt.Errorf("emit: unexpected arguments %q (use - to read NDJSON from stdin)", args)
	case stdin && (cfg.Type != "" || cfg.JSON != ""):
		return errors.New("emit: use either - (stdin) or --type and --json")
	case !stdin && (cfg.Type == "" || cfg.JSON == ""):
		return errors.New("emit: --type and --json are required (or - to read NDJSON from stdin)")
	}
	if file, ok := strings.CutPrefix(cfg.JSON, "@"); ok {
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("emit: --json @%s: %w", file, err)
		}
		cfg.JSON = string(b)
	}
	if _, err := cfg.resolve(); err != nil {
		return err
	}
	var regOpts []registry.ClientOption
	if cfg.APIKey != "" {
		regOpts = append(regOpts, registry.WithAPIKey(cfg.APIKey))
	}
	reg, err := registry.Dial(ctx, cfg.Registry, regOpts...)
	if err != nil {
		return err
	}
	defer reg.Close()
	c, err := client.New(ctx, cfg.Collector,
		client.WithAPIKey(cfg.APIKey),
		client.WithBatchDelay(5*time.Millisecond),
		client.WithRetry(4, 200*time.Millisecond),
		client.WithRequestTimeout(15*time.Second))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	defer c.Close(context.WithoutCancel(ctx))

	var all []pending
	emit := func(env emitLine) {
		p := pending{label: env.Type}
		opts, err := emitOptions(env)
		if err == nil {
			var msg *dynamicpb.Message
			msg, err = decodePayload(ctx, reg, env)
			if err == nil {
				p.res = c.Emit(ctx, msg, opts...)
			}
		}
		if err != nil {
			p.failed = err.Error()
		}
		all = append(all, p)
	}
	if stdin {
		sc := bufio.NewScanner(io.Stdin)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for line := 1; sc.Scan(); line++ {
			text := strings.TrimSpace(sc.Text())
			if text == "" {
				continue
			}
			var env emitLine
			dec := json.NewDecoder(strings.NewReader(text))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&env); err != nil {
				all = append(all, pending{label: "-", failed: fmt.Sprintf("line %d: %v", line, err)})
				continue
			}
			if env.Type == "" || len(env.Payload) == 0 {
				all = append(all, pending{label: env.Type, failed: fmt.Sprintf("line %d: type and payload are required", line)})
				continue
			}
			emit(env)
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("emit: read stdin: %w", err)
		}
	} else {
		emit(emitLine{Type: cfg.Type, EventID: cfg.EventID, SchemaID: cfg.SchemaID, Attributes: cfg.Attrs, Payload: json.RawMessage(cfg.JSON)})
	}
	_ = c.Flush(ctx)
	bad := 0
	for _, p := range all {
		if !printResult(ctx, io.Stdout, p) {
			bad++
		}
	}
	if bad > 0 {
		return Exit(1)
	}
	return nil
}

func emitOptions(env emitLine) ([]client.EmitOption, error) {
	var opts []client.EmitOption
	if env.EventID != "" {
		opts = append(opts, client.WithEventID(env.EventID))
	}
	if env.EventTime != "" {
		t, err := time.Parse(time.RFC3339Nano, env.EventTime)
		if err != nil {
			return nil, fmt.Errorf("event_time %q is not an RFC 3339 time", env.EventTime)
		}
		opts = append(opts, client.WithEventTime(t))
	}
	if len(env.Attributes) > 0 {
		opts = append(opts, client.WithAttributes(env.Attributes))
	}
	if env.SchemaID != 0 {
		opts = append(opts, client.WithSchemaID(env.SchemaID))
	}
	return opts, nil
}

// decodePayload reads contract JSON with the registry's descriptors of the
// type (or of the pinned version).
func decodePayload(ctx context.Context, reg *registry.Client, env emitLine) (*dynamicpb.Message, error) {
	var (
		s   *contract.Schema
		err error
	)
	if env.SchemaID != 0 {
		s, err = reg.ByID(ctx, env.SchemaID)
	} else {
		s, err = reg.Latest(ctx, env.Type)
	}
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return nil, fmt.Errorf("%s is not a registered event type", env.Type)
	case err != nil:
		return nil, err
	case s.Subject != env.Type:
		return nil, fmt.Errorf("schema id %d is a version of %s, not of %s", s.ID, s.Subject, env.Type)
	}
	msg := s.NewMessage()
	opts := protojson.UnmarshalOptions{Resolver: s.Types()}
	if err := opts.Unmarshal(env.Payload, msg); err != nil {
		return nil, fmt.Errorf("payload: %v", err)
	}
	return msg, nil
}

// printResult prints one line per event and reports whether it was
// accepted.
func printResult(ctx context.Context, w io.Writer, p pending) bool {
	if p.failed != "" {
		fmt.Fprintf(w, "REJECTED  -  %s  %s\n", p.label, p.failed)
		return false
	}
	res, err := p.res.Get(ctx)
	switch {
	case res.GetStatus() == collectorv1.EventStatus_EVENT_STATUS_ACCEPTED:
		fmt.Fprintf(w, "ACCEPTED  %s  %s\n", p.res.EventID(), p.label)
		return true
	case res.GetStatus() == collectorv1.EventStatus_EVENT_STATUS_REJECTED:
		var why []string
		for _, v := range res.GetViolations() {
			if v.GetFieldPath() != "" {
				why = append(why, fmt.Sprintf("%s: %s: %s", v.GetFieldPath(), v.GetRuleId(), v.GetMessage()))
			} else {
				why = append(why, fmt.Sprintf("%s: %s", v.GetRuleId(), v.GetMessage()))
			}
		}
		if len(why) == 0 {
			why = append(why, fmt.Sprintf("%s: %s", strings.TrimPrefix(res.GetReason().String(), "REASON_"), res.GetMessage()))
		}
		fmt.Fprintf(w, "REJECTED  %s  %s  %s\n", p.res.EventID(), p.label, strings.Join(why, "; "))
	default:
		fmt.Fprintf(w, "FAILED    %s  %s  %v\n", p.res.EventID(), p.label, err)
	}
	return false
}
