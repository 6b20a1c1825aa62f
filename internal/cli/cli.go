// Package cli is the hem command line: one Command per subcommand, each with
// its own typed configuration, wired explicitly. Every flag --foo-bar can also
// be set with the environment variable HEM_FOO_BAR; a flag on the command line
// wins.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
)

// IO is what a command reads and writes; tests swap it.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

// StdIO is the process's own streams and environment.
func StdIO() IO {
	return IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

// Command is one hem subcommand.
type Command struct {
	// Name is the words that select it, e.g. "schema push".
	Name string
	// Args is the synopsis of positional arguments, e.g. "[DIR]".
	Args string
	// Summary is one line for the command list.
	Summary string
	// Help is the long description shown by --help.
	Help string
	// Flags registers the command's flags into its typed config.
	Flags func(fs *flag.FlagSet)
	// Run runs the command with the positional arguments.
	Run func(ctx context.Context, io IO, args []string) error
}

// exitError carries an exit status without a message (the command already
// printed what went wrong).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Exit returns an error that makes hem exit with code and print nothing more.
func Exit(code int) error { return exitError{code} }

// ExitCode reports the exit status an error asks for.
func ExitCode(err error) (int, bool) {
	var e exitError
	if errors.As(err, &e) {
		return e.code, true
	}
	return 0, false
}

// Run parses args and runs the selected command.
func Run(ctx context.Context, io IO, args []string) error {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 && args[0] == "help" {
			args = append(args[1:], "--help")
		} else {
			printUsage(io.Stdout, cmds)
			return nil
		}
	}
	cmd, rest := match(cmds, args)
	if cmd == nil {
		printUsage(io.Stderr, cmds)
		return fmt.Errorf("unknown command %q", strings.Join(args[:min(2, len(args))], " "))
	}
	fs := flag.NewFlagSet("hem "+cmd.Name, flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	if cmd.Flags != nil {
		cmd.Flags(fs)
	}
	fs.Usage = func() {} // printed below, to stdout for --help and stderr for mistakes
	if err := fs.Parse(interleave(fs, rest)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printCommandHelp(io.Stdout, cmd, fs)
			return nil
		}
		fmt.Fprintf(io.Stderr, "Run \"hem %s --help\" for usage.\n", cmd.Name)
		return Exit(2)
	}
	if err := applyEnv(fs, io.Getenv); err != nil {
		return err
	}
	return cmd.Run(ctx, io, fs.Args())
}

// interleave moves flags after positional arguments to the front, so
// "hem schema push proto --dry-run" works like "hem schema push --dry-run proto".
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil && !isBool(f) && i+1 < len(args) {
			flags = append(flags, args[i+1])
			i++
		}
	}
	return append(flags, pos...)
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// EnvName is the environment variable for a flag: --bigquery-project is
// HEM_BIGQUERY_PROJECT.
func EnvName(flagName string) string {
	return "HEM_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil || getenv == nil {
			return
		}
		if v := getenv(EnvName(f.Name)); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, e)
			}
		}
	})
	return err
}

func match(cmds []*Command, args []string) (*Command, []string) {
	var best *Command
	var bestLen int
	for _, c := range cmds {
		words := strings.Fields(c.Name)
		if len(words) <= len(args) && slices.Equal(words, args[:len(words)]) && len(words) > bestLen {
			best, bestLen = c, len(words)
		}
	}
	if best == nil {
		return nil, nil
	}
	return best, args[bestLen:]
}

func printUsage(w io.Writer, cmds []*Command) {
	fmt.Fprintln(w, "hem: an event pipeline for Google Cloud: protobuf contracts, a schema registry,")
	fmt.Fprintln(w, "collectors, Pub/Sub, and processors into BigQuery, a GCS archive and DuckDB.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: hem <command> [flags] [args]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range cmds {
		fmt.Fprintf(tw, "  %s\t%s\n", c.Name, c.Summary)
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run \"hem <command> --help\" for a command's flags. Every flag --foo-bar can also")
	fmt.Fprintln(w, "be set with the environment variable HEM_FOO_BAR.")
	fmt.Fprintln(w, "Start here: \"hem dev\" runs the whole pipeline locally.")
}

func printCommandHelp(w io.Writer, c *Command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: hem %s [flags] %s\n\n", c.Name, c.Args)
	fmt.Fprintln(w, c.Summary)
	if c.Help != "" {
		fmt.Fprintln(w)
		fmt.Fprintln(w, strings.TrimSpace(c.Help))
	}
	var has bool
	fs.VisitAll(func(*flag.Flag) { has = true })
	if !has {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Flags (each also settable as HEM_<NAME>):")
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s %s\n", f.Name, typ)
		fmt.Fprintf(w, "        %s", usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, " [%s]\n", EnvName(f.Name))
	})
}
