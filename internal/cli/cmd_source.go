package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/contract"
	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	"github.com/hemlabs/hem/source/mapping"
	"github.com/hemlabs/hem/source/spec"
)

// sourceDefaultDir is where declarations live unless a DIR is given.
const sourceDefaultDir = "sources"

type sourceListConfig struct {
	Dir    string
	Proto  string
	Format string
}

func sourceListCommand() *Command {
	var cfg sourceListConfig
	return &Command{
		Name:    "source list",
		Summary: "list the declared file sources",
		Help: `
Prints one line per file source declared under --sources (*.yaml): its
name, the subject its records become, that subject's table (from the contract
under --proto), the format and compression, and the objects it takes
(gs://BUCKET/PATTERN):

  product-catalogue  shop.products.v1.ProductCreated  shop_products_v1_product_created  csv+gzip  gs://hem-landing/catalogue/*.csv.gz

--format json prints a JSON array of objects with the same fields (name,
subject, table, format, bucket, pattern) plus file and description. A subject
the contracts do not define has table "?"; "hem source check" says why.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&cfg.Dir, "sources", sourceDefaultDir, "folder of the declarations (*.yaml), as hem dev, hem load and hem source run take it")
			fs.StringVar(&cfg.Proto, "proto", schemaDefaultDir, "folder of the contracts (.proto), for the tables")
			fs.StringVar(&cfg.Format, "format", "table", "output: table or json")
		},
		Run: func(ctx context.Context, io IO, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("source list takes no arguments (the folder is --sources)")
			}
			return runSourceList(ctx, io, &cfg)
		},
	}
}

// sourceRow is one line of hem source list.
type sourceRow struct {
	Name        string `json:"name"`
	Subject     string `json:"subject"`
	Table       string `json:"table"`
	Format      string `json:"format"`
	Bucket      string `json:"bucket"`
	Pattern     string `json:"pattern"`
	File        string `json:"file"`
	Description string `json:"description,omitempty"`
}

func runSourceList(ctx context.Context, io IO, cfg *sourceListConfig) error {
	if cfg.Format != "table" && cfg.Format != "json" {
		return fmt.Errorf("--format %q: want table or json", cfg.Format)
	}
	decls, err := spec.Load(cfg.Dir)
	var problems spec.Errors
	if err != nil && !errors.As(err, &problems) {
		return fmt.Errorf("source list: %w", err)
	}
	if len(problems) > 0 {
		// List what can be listed; the gate's hem source check fails on these.
		fmt.Fprintf(io.Stderr, "source list: %d problems in the declarations (run \"hem source check %s\"); listing the others\n", len(problems), cfg.Dir)
	}
	contracts, cerr := contract.CompileDir(ctx, cfg.Proto)
	if cerr != nil {
		fmt.Fprintf(io.Stderr, "source list: the contracts under %s do not compile (run \"hem source check\"): tables unknown\n", cfg.Proto)
	}
	rows := make([]sourceRow, 0, len(decls))
	for _, d := range decls {
		src := d.Source
		table := "?"
		if cerr == nil {
			if md, ok := contracts.Message(src.GetSubject()); ok {
				table = contract.TableName(md)
			}
		}
		rows = append(rows, sourceRow{
			Name: src.GetName(), Subject: src.GetSubject(), Table: table, Format: sourceFormat(src),
			Bucket: src.GetObjects().GetBucket(), Pattern: src.GetObjects().GetPattern(),
			File: d.File, Description: src.GetDescription(),
		})
	}
	if cfg.Format == "json" {
		enc := json.NewEncoder(io.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	if len(rows) == 0 {
		fmt.Fprintf(io.Stderr, "no file sources declared under %s\n", cfg.Dir)
		return nil
	}
	tw := tabwriter.NewWriter(io.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSUBJECT\tTABLE\tFORMAT\tOBJECTS")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\tgs://%s/%s\n", r.Name, r.Subject, r.Table, r.Format, r.Bucket, r.Pattern)
	}
	return tw.Flush()
}

// sourceFormat names a declaration's format and compression: csv+gzip,
// tsv, ndjson+zip, json+zstd (one JSON array), parquet.
func sourceFormat(src *sourcev1.Source) string {
	var f string
	switch fm := src.GetFormat(); {
	case fm.GetCsv() != nil:
		f = "csv"
		if spec.Delimiter(fm.GetCsv()) == '\t' {
			f = "tsv"
		}
	case fm.GetJson() != nil:
		f = "ndjson"
		if fm.GetJson().GetArray() {
			f = "json"
		}
	case fm.GetParquet() != nil:
		f = "parquet"
	}
	switch c := src.GetCompression(); {
	case c.GetGzip() != nil:
		f += "+gzip"
	case c.GetZstd() != nil:
		f += "+zstd"
	case c.GetZip() != nil:
		f += "+zip"
	case c.GetTarGz() != nil:
		f += "+tar.gz"
	}
	return f
}

type sourceCheckConfig struct {
	Proto string
}

func sourceCheckCommand() *Command {
	var cfg sourceCheckConfig
	return &Command{
		Name:    "source check",
		Args:    "[DIR]",
		Summary: "check the file source declarations against the contracts (CI)",
		Help: `
Reads every declaration DIR/*.yaml (default sources/) and checks it: known
keys, types, enum values, the rules of hem.source.v1.Source, unique names.
Then compiles the contracts under --proto, checks that each source's subject
is an event type there, and compiles its mapping against that contract as the
loader will: a field the contract does not have, a column not declared, a CEL
expression that does not parse or whose type does not fit its field (an int
for a string), an event_time that is not a timestamp, a key field not mapped.
Every problem is one line, file:line:col: element: reason, e.g.

  sources/product-catalogue.yaml:21:9: fields[name]: expression is int, field name is string

and the exit status is 1. With no problem it prints one line per source. The
gate (make lint) runs it beside "hem schema check", so a contract change that
breaks a source fails CI.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&cfg.Proto, "proto", schemaDefaultDir, "folder of the contracts (.proto), also the import root")
		},
		Run: func(ctx context.Context, io IO, args []string) error {
			return runSourceCheck(ctx, io, &cfg, args)
		},
	}
}

func runSourceCheck(ctx context.Context, io IO, cfg *sourceCheckConfig, args []string) error {
	var dir string
	switch len(args) {
	case 0:
		dir = sourceDefaultDir
	case 1:
		dir = args[0]
	default:
		return fmt.Errorf("want at most one DIR, got %q", args)
	}
	decls, err := spec.Load(dir)
	var problems spec.Errors
	if err != nil && !errors.As(err, &problems) {
		return fmt.Errorf("source check: %w", err)
	}
	contracts, err := contract.CompileDir(ctx, cfg.Proto)
	if err != nil {
		fmt.Fprintf(io.Stderr, "source check: the contracts under %s do not compile:\n", cfg.Proto)
		sourcePrint(io.Stdout, problems)
		return schemaCompileFailed(io.Stderr, cfg.Proto, "", err)
	}
	var ok []string
	for _, d := range decls {
		md, errs := sourceContract(d, contracts, cfg.Proto)
		if len(errs) == 0 {
			errs = sourceMapping(d, md)
		}
		problems = append(problems, errs...)
		if len(errs) > 0 {
			continue
		}
		ok = append(ok, fmt.Sprintf("%s: %s → %s (table %s), %d fields", d.File, d.Source.GetName(), md.FullName(), contract.TableName(md), len(d.Source.GetFields())))
	}
	if len(problems) > 0 {
		sourcePrint(io.Stdout, problems)
		fmt.Fprintf(io.Stderr, "source check: %d sources in %s: %d problems\n", len(decls), dir, len(problems))
		return Exit(1)
	}
	for _, l := range ok {
		fmt.Fprintln(io.Stdout, l)
	}
	fmt.Fprintf(io.Stderr, "source check: %d sources in %s against the contracts in %s: no problems\n", len(decls), dir, cfg.Proto)
	return nil
}

// sourceContract finds the event type a declaration's subject names.
func sourceContract(d *spec.Declaration, contracts *contract.Source, protoDir string) (protoreflect.MessageDescriptor, spec.Errors) {
	subject := d.Source.GetSubject()
	md, ok := contracts.Message(subject)
	if !ok {
		var events []string
		for _, e := range contracts.Events() {
			events = append(events, string(e.FullName()))
		}
		hint := ""
		if best := spec.Closest(subject, events); best != "" {
			hint = fmt.Sprintf("; did you mean %q?", best)
		}
		return nil, spec.Errors{d.Errorf("subject", "unknown subject %q: no message of that name in the contracts under %s%s", subject, protoDir, hint)}
	}
	if _, ok := contract.EventOptions(md); !ok {
		return nil, spec.Errors{d.Errorf("subject", "%s is not an event type (it has no option (hem.options.v1.event))", subject)}
	}
	return md, nil
}

// sourceMapping compiles a declaration's mapping against its contract, as
// the loader will, and places each problem at its element's line.
func sourceMapping(d *spec.Declaration, md protoreflect.MessageDescriptor) spec.Errors {
	_, err := mapping.Compile(d.Source, md)
	if err == nil {
		return nil
	}
	var problems mapping.Errors
	if !errors.As(err, &problems) {
		return spec.Errors{d.Errorf("", "%v", err)}
	}
	out := make(spec.Errors, len(problems))
	for i, p := range problems {
		out[i] = d.Errorf(p.Path, "%s", p.Message)
	}
	return out
}

func sourcePrint(w io.Writer, problems spec.Errors) {
	problems.Sort()
	for _, p := range problems {
		fmt.Fprintln(w, p)
	}
}
