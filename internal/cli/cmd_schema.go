package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/contract/protoprint"
	registryv1 "github.com/hemlabs/hem/gen/hem/registry/v1"
	"github.com/hemlabs/hem/internal/wiring"
	"github.com/hemlabs/hem/registry"
	"github.com/hemlabs/hem/registry/compat"
)

// schemaDefaultDir is where contracts live unless a DIR is given.
const schemaDefaultDir = "proto"

type schemaPushConfig struct {
	client clientFlags
	DryRun bool
	// AckRetention names subjects whose shortened retention is acknowledged.
	AckRetention stringList
	// Commit is recorded with each new version; empty: DIR's git HEAD.
	Commit string
}

func schemaPushCommand() *Command {
	var cfg schemaPushConfig
	return &Command{
		Name:    "schema push",
		Args:    "[DIR]",
		Summary: "compile .proto files and register every event type",
		Help: `
Compiles every .proto file under DIR (default proto/, also the import root) and
registers every event message (one carrying option (hem.options.v1.event));
hem's own hem.* types are built in and skipped. Prints one line per subject:

  shop.orders.v1.OrderPlaced  v2  id 14  NEW

NEW is a new version, UNCHANGED an existing one (same id back), REJECTED a
change that breaks a rule; each broken rule is printed as a line starting with
its rule id (see docs/EVOLUTION.md), and the exit status is 1. --dry-run checks
without storing anything.

The registry records with each new version who pushed it (the API key's or
service account's name; "local" for hem dev) and the commit it came from:
--commit, or else "git rev-parse HEAD" when DIR is in a git checkout.

A version that shortens a retention (the warehouse's partition expiration,
the archive's or a rollup's retention) is REJECTED by rule EV-D01, which lists
the dates that would be deleted. Once you have read them, push again with
--acknowledge-retention SUBJECT: the version is stored and the lines starting
with "acknowledged" say what goes.`,
		Flags: func(fs *flag.FlagSet) {
			cfg.client.bind(fs)
			fs.BoolVar(&cfg.DryRun, "dry-run", false, "check without storing")
			fs.StringVar(&cfg.Commit, "commit", "", "`SHA` (or any revision name, at most 200 bytes) recorded with each new version; default: \"git rev-parse HEAD\" when DIR is in a git checkout, else none")
			fs.Var(&cfg.AckRetention, "acknowledge-retention", "`SUBJECT` whose shortened retention deletes data, knowingly (EV-D01); repeat for several")
		},
		Run: func(ctx context.Context, io IO, args []string) error {
			return runSchemaPush(ctx, io, &cfg, args)
		},
	}
}

func runSchemaPush(ctx context.Context, io IO, cfg *schemaPushConfig, args []string) error {
	dir, src, err := schemaCompileArg(ctx, io, args)
	if err != nil {
		return err
	}
	var subjects []string
	for _, md := range append(src.Events(), src.Rollups()...) {
		if !registry.Reserved(string(md.FullName())) {
			subjects = append(subjects, string(md.FullName()))
		}
	}
	if len(subjects) == 0 {
		return fmt.Errorf("schema push: no event messages under %s (messages with option (hem.options.v1.event))", dir)
	}
	set, err := schemaUnionSet(src)
	if err != nil {
		return err
	}
	c, err := schemaDial(ctx, &cfg.client)
	if err != nil {
		return err
	}
	defer c.Close()
	commit := cfg.Commit
	if commit == "" {
		commit = wiring.HeadCommit(ctx, dir)
	}
	resp, err := c.Register(ctx, &registryv1.RegisterRequest{FileDescriptorSet: set, Subjects: subjects, DryRun: cfg.DryRun, Commit: commit,
		AcknowledgeRetention: cfg.AckRetention})
	if err != nil {
		return fmt.Errorf("schema push: %w", err)
	}
	tw := tabwriter.NewWriter(io.Stdout, 0, 4, 2, ' ', 0)
	var violations, acknowledged []string
	for _, r := range resp.GetResults() {
		ver, id := "", ""
		if r.GetVersion() > 0 {
			ver = fmt.Sprintf("v%d", r.GetVersion())
		}
		if r.GetId() > 0 {
			id = fmt.Sprintf("id %d", r.GetId())
		}
		outcome := strings.TrimPrefix(r.GetOutcome().String(), "REGISTER_OUTCOME_")
		if r.GetState() == registryv1.SchemaState_SCHEMA_STATE_PENDING {
			outcome += " (pending migration)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.GetSubject(), ver, id, outcome)
		for _, v := range r.GetViolations() {
			violations = append(violations, schemaViolationLine(v.GetRuleId(), v.GetPath(), v.GetMessage()))
		}
		for _, v := range r.GetAcknowledged() {
			acknowledged = append(acknowledged, "acknowledged "+schemaViolationLine(v.GetRuleId(), v.GetPath(), v.GetMessage()))
		}
	}
	tw.Flush()
	if len(acknowledged) > 0 {
		fmt.Fprintln(io.Stdout)
		for _, a := range acknowledged {
			fmt.Fprintln(io.Stdout, a)
		}
	}
	if len(violations) > 0 {
		fmt.Fprintln(io.Stdout)
		for _, v := range violations {
			fmt.Fprintln(io.Stdout, v)
		}
	}
	if cfg.DryRun {
		fmt.Fprintln(io.Stderr, "dry run: nothing was stored")
	}
	if len(violations) > 0 {
		return Exit(1)
	}
	return nil
}

func schemaViolationLine(rule, path, msg string) string {
	return fmt.Sprintf("%s %s: %s", rule, path, msg)
}

func schemaDirArg(args []string) (string, error) {
	switch len(args) {
	case 0:
		return schemaDefaultDir, nil
	case 1:
		return args[0], nil
	}
	return "", fmt.Errorf("want at most one DIR, got %q", args)
}

// schemaCompileArg compiles the contracts under the command's DIR
// argument (default proto/), printing what does not compile.
func schemaCompileArg(ctx context.Context, io IO, args []string) (string, *contract.Source, error) {
	dir, err := schemaDirArg(args)
	if err != nil {
		return "", nil, err
	}
	src, err := contract.CompileDir(ctx, dir)
	if err != nil {
		return "", nil, schemaCompileFailed(io.Stderr, dir, "", err)
	}
	return dir, src, nil
}

func schemaDial(ctx context.Context, cf *clientFlags) (*registry.Client, error) {
	if _, err := cf.resolve(); err != nil {
		return nil, err
	}
	var opts []registry.ClientOption
	if cf.APIKey != "" {
		opts = append(opts, registry.WithAPIKey(cf.APIKey))
	}
	return registry.Dial(ctx, cf.Registry, opts...)
}

// schemaUnionSet is one FileDescriptorSet with every compiled file and its
// imports, each once.
func schemaUnionSet(src *contract.Source) ([]byte, error) {
	var union descriptorpb.FileDescriptorSet
	seen := map[string]bool{}
	for _, f := range src.Files() {
		for _, fdp := range contract.DescriptorSet(f).GetFile() {
			if !seen[fdp.GetName()] {
				seen[fdp.GetName()] = true
				union.File = append(union.File, fdp)
			}
		}
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&union)
	if err != nil {
		return nil, fmt.Errorf("encode descriptor set: %w", err)
	}
	return b, nil
}

// schemaCompileFailed prints each compile error as file:line:col: message,
// with paths as the user knows them (under dir, or REF:dir), and asks for
// exit status 1.
func schemaCompileFailed(w io.Writer, dir, ref string, err error) error {
	prefix := dir
	if ref != "" {
		prefix = ref + ":" + dir
	}
	var walk func(error)
	walk = func(err error) {
		if pe, ok := err.(reporter.ErrorWithPos); ok {
			pos := pe.GetPosition()
			fmt.Fprintf(w, "%s:%d:%d: %v\n", filepath.ToSlash(filepath.Join(prefix, pos.Filename)), pos.Line, pos.Col, pe.Unwrap())
			return
		}
		var pe reporter.ErrorWithPos
		if !errors.As(err, &pe) {
			fmt.Fprintln(w, err)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return Exit(1)
}

type schemaCheckConfig struct {
	Against string
	// AckRetention names subjects whose shortened retention is acknowledged.
	AckRetention stringList
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	if s == "" {
		return errors.New("empty value")
	}
	*l = append(*l, s)
	return nil
}

func schemaCheckCommand() *Command {
	var cfg schemaCheckConfig
	return &Command{
		Name:    "schema check",
		Args:    "[DIR]",
		Summary: "check contracts against a git ref (CI; no registry needed)",
		Help: `
Compiles the .proto files under DIR (default proto/) as they are now and as
they were at the git ref --against, and runs the registry's admission rules:
every event type present at the ref is checked against its version there
(compat.Admit), new event types by the lint rules (compat.Lint), and an event
type deleted since the ref is an EV-W03 violation. hem's own hem.* types are
built in and skipped, as push does. Prints one line per violation, starting
with its rule id, and exits 1 if there is any.

--against defaults to origin/main when that exists, else HEAD~1. Use HEAD to
check uncommitted changes.

A shortened retention (EV-D01) is compared with the contract at the ref and
is a violation unless --acknowledge-retention names its subject; then it is
printed as a line starting with "acknowledged", saying what would go.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&cfg.Against, "against", "", "git ref to compare with (default origin/main if it exists, else HEAD~1)")
			fs.Var(&cfg.AckRetention, "acknowledge-retention", "`SUBJECT` whose shortened retention deletes data, knowingly (EV-D01); repeat for several")
		},
		Run: func(ctx context.Context, io IO, args []string) error {
			return runSchemaCheck(ctx, io, &cfg, args)
		},
	}
}

func runSchemaCheck(ctx context.Context, io IO, cfg *schemaCheckConfig, args []string) error {
	dir, err := schemaDirArg(args)
	if err != nil {
		return err
	}
	ref := cfg.Against
	if ref == "" {
		ref = "HEAD~1"
		if _, err := schemaGit(ctx, dir, "rev-parse", "--verify", "--quiet", "origin/main^{commit}"); err == nil {
			ref = "origin/main"
		}
	}
	if _, err := schemaGit(ctx, dir, "rev-parse", "--verify", "--quiet", ref+"^{commit}"); err != nil {
		return fmt.Errorf("schema check: %s is not a commit in the repository of %s", ref, dir)
	}
	cur, err := contract.CompileDir(ctx, dir)
	if err != nil {
		return schemaCompileFailed(io.Stderr, dir, "", err)
	}
	current, err := schemaContracts(cur)
	if err != nil {
		return fmt.Errorf("schema check: %w", err)
	}
	before := map[string]*contract.Schema{}
	tmp, err := os.MkdirTemp("", "hem-schema-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	present, err := schemaExtract(ctx, dir, ref, tmp)
	if err != nil {
		return fmt.Errorf("schema check: %w", err)
	}
	if present {
		old, err := contract.CompileDir(ctx, tmp)
		if err != nil && !strings.Contains(err.Error(), "no .proto files") {
			fmt.Fprintf(io.Stderr, "the contracts at %s do not compile:\n", ref)
			return schemaCompileFailed(io.Stderr, dir, ref, err)
		}
		if err == nil {
			olds, err := schemaContracts(old)
			if err != nil {
				return fmt.Errorf("schema check: at %s: %w", ref, err)
			}
			for _, s := range olds {
				before[s.Subject] = s
			}
		}
	}

	var lines []string
	now := map[string]bool{}
	for _, s := range current {
		now[s.Subject] = true
		var prior []*contract.Schema
		if old, ok := before[s.Subject]; ok {
			prior = []*contract.Schema{old}
		}
		vs := registry.Check(s, prior)
		if s.IsRollup() {
			vs = append(vs, compat.CheckRollupSource(s, schemaRollupSource(s, current))...)
		}
		for _, v := range vs {
			lines = append(lines, schemaViolationLine(v.Rule, v.Path, v.Message))
		}
		if old := before[s.Subject]; old != nil {
			for _, v := range compat.Retention(s, old, time.Now(), nil) {
				if slices.Contains(cfg.AckRetention, s.Subject) {
					fmt.Fprintln(io.Stdout, "acknowledged "+schemaViolationLine(v.Rule, v.Path, v.Message))
					continue
				}
				lines = append(lines, schemaViolationLine(v.Rule, v.Path, v.Message))
			}
		}
	}
	var removed []string
	for subject := range before {
		if !now[subject] {
			removed = append(removed, subject)
		}
	}
	slices.Sort(removed)
	for _, subject := range removed {
		lines = append(lines, schemaViolationLine("EV-W03", subject,
			"an event type was deleted; events of it are stored and its table exists, so keep the message (mark it deprecated) or start a new major package"))
	}
	for _, l := range lines {
		fmt.Fprintln(io.Stdout, l)
	}
	if len(lines) > 0 {
		fmt.Fprintf(io.Stderr, "schema check: %d event types in %s against %s: %d violations\n", len(current), dir, ref, len(lines))
		return Exit(1)
	}
	fmt.Fprintf(io.Stderr, "schema check: %d event types in %s against %s: no violations\n", len(current), dir, ref)
	return nil
}

// schemaContracts builds every event message of src except hem's own
// (hem.*), which are built in and never registered.
// schemaRollupSource is the source event type of rollup s among the
// contracts checked with it, or nil.
func schemaRollupSource(s *contract.Schema, all []*contract.Schema) *contract.Schema {
	opts, _ := contract.RollupOptions(s.Descriptor())
	for _, c := range all {
		if c.Subject == opts.GetSource() {
			return c
		}
	}
	return nil
}

// schemaContracts are the event types and rollups of src that a push
// registers.
func schemaContracts(src *contract.Source) ([]*contract.Schema, error) {
	all, err := src.Schemas()
	if err != nil {
		return nil, err
	}
	rollups, err := src.RollupSchemas()
	if err != nil {
		return nil, err
	}
	all = append(all, rollups...)
	return slices.DeleteFunc(all, func(s *contract.Schema) bool { return registry.Reserved(s.Subject) }), nil
}

// schemaGit runs git in dir and returns its standard output.
func schemaGit(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// schemaExtract writes dir as it was at ref into dst (git archive); it
// reports false when dir did not exist at ref.
func schemaExtract(ctx context.Context, dir, ref, dst string) (bool, error) {
	if _, err := schemaGit(ctx, dir, "rev-parse", "--verify", "--quiet", ref+":./"); err != nil {
		return false, nil
	}
	out, err := schemaGit(ctx, dir, "archive", "--format=tar", ref, ".")
	if err != nil {
		return false, err
	}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("read git archive: %w", err)
		}
		name := filepath.FromSlash(h.Name)
		if !filepath.IsLocal(name) || h.Typeflag != tar.TypeReg {
			continue
		}
		path := filepath.Join(dst, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return false, err
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return false, fmt.Errorf("read git archive: %w", err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return false, err
		}
	}
}

type schemaReadConfig struct {
	client clientFlags
}

func schemaListCommand() *Command {
	var cfg schemaReadConfig
	return &Command{
		Name:    "schema list",
		Summary: "list subjects and their latest versions",
		Help:    "Prints one line per subject: its latest version and that version's id.",
		Flags:   cfg.client.bind,
		Run: func(ctx context.Context, io IO, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("schema list takes no arguments")
			}
			c, err := schemaDial(ctx, &cfg.client)
			if err != nil {
				return err
			}
			defer c.Close()
			subjects, err := c.Subjects(ctx)
			if err != nil {
				return fmt.Errorf("schema list: %w", err)
			}
			if len(subjects) == 0 {
				fmt.Fprintln(io.Stderr, "no subjects registered yet; run \"hem schema push\"")
				return nil
			}
			tw := tabwriter.NewWriter(io.Stdout, 0, 4, 2, ' ', 0)
			for _, s := range subjects {
				fmt.Fprintf(tw, "%s\tv%d\tid %d\n", s.GetSubject(), s.GetLatestVersion(), s.GetLatestId())
			}
			return tw.Flush()
		},
	}
}

func schemaShowCommand() *Command {
	var cfg schemaReadConfig
	return &Command{
		Name:    "schema show",
		Args:    "SUBJECT[@VERSION]",
		Summary: "print a version as .proto source",
		Help: `
Prints the .proto file that defines SUBJECT, rebuilt from the stored
descriptors with their comments, at VERSION (default: the latest). A line on
stderr names the version: its id, state, when it was pushed, by whom and from
which commit.`,
		Flags: cfg.client.bind,
		Run: func(ctx context.Context, io IO, args []string) error {
			if len(args) != 1 {
				return errors.New("want SUBJECT[@VERSION]")
			}
			subject, verStr, hasVer := strings.Cut(args[0], "@")
			c, err := schemaDial(ctx, &cfg.client)
			if err != nil {
				return err
			}
			defer c.Close()
			var version int
			if hasVer {
				if version, err = schemaVersionArg(verStr); err != nil {
					return err
				}
			} else {
				versions, err := c.Versions(ctx, subject)
				if err != nil {
					return fmt.Errorf("schema show: %w", err)
				}
				version = int(versions[len(versions)-1].GetVersion())
			}
			s, err := c.Version(ctx, subject, version)
			if err != nil {
				return fmt.Errorf("schema show: %w", err)
			}
			fmt.Fprintf(io.Stderr, "%s v%d (id %d, %s%s), file %s\n", s.Subject, s.Version, s.ID, s.State, schemaProvenance(s), s.Descriptor().ParentFile().Path())
			_, err = io.Stdout.Write([]byte(protoprint.File(s.Descriptor().ParentFile(), s.Files())))
			return err
		},
	}
}

// schemaProvenance says who pushed a version and from which commit, as
// the registry recorded them (versions pushed before it did have neither).
func schemaProvenance(s *contract.Schema) string {
	var out string
	if !s.CreatedAt.IsZero() {
		out += ", pushed " + s.CreatedAt.UTC().Format(time.RFC3339)
	}
	if s.PushedBy != "" {
		out += " by " + s.PushedBy
	}
	if s.Commit != "" {
		out += " from " + s.Commit
	}
	return out
}

func schemaVersionArg(s string) (int, error) {
	v, err := strconv.Atoi(strings.TrimPrefix(s, "v"))
	if err != nil || v < 1 {
		return 0, fmt.Errorf("version %q: want a number from 1, e.g. 2 or v2", s)
	}
	return v, nil
}

func schemaDiffCommand() *Command {
	var cfg schemaReadConfig
	return &Command{
		Name:    "schema diff",
		Args:    "SUBJECT V1 V2",
		Summary: "show what changed between two versions of a subject",
		Help: `
Lists what changed from version V1 to V2 of SUBJECT, one line per change:

  + shop.orders.v1.OrderPlaced.note (string, field 15)

+ is added, - removed, ~ changed (type, name, oneof, options, description).`,
		Flags: cfg.client.bind,
		Run: func(ctx context.Context, io IO, args []string) error {
			if len(args) != 3 {
				return errors.New("want SUBJECT V1 V2")
			}
			v1, err := schemaVersionArg(args[1])
			if err != nil {
				return err
			}
			v2, err := schemaVersionArg(args[2])
			if err != nil {
				return err
			}
			c, err := schemaDial(ctx, &cfg.client)
			if err != nil {
				return err
			}
			defer c.Close()
			from, err := c.Version(ctx, args[0], v1)
			if err != nil {
				return fmt.Errorf("schema diff: %w", err)
			}
			to, err := c.Version(ctx, args[0], v2)
			if err != nil {
				return fmt.Errorf("schema diff: %w", err)
			}
			changes := registry.Diff(from, to)
			if len(changes) == 0 {
				fmt.Fprintf(io.Stderr, "%s: v%d and v%d do not differ\n", args[0], v1, v2)
			}
			for _, ch := range changes {
				fmt.Fprintln(io.Stdout, ch)
			}
			return nil
		},
	}
}
