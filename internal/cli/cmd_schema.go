package cli

import (
	"context"
	"errors"
)

func schemaPushCommand() *Command {
	return &Command{
		Name:    "schema push",
		Summary: "compile .proto files and register every event type",
		Run: func(context.Context, IO, []string) error {
			return errors.New("not implemented yet")
		},
	}
}

func schemaCheckCommand() *Command {
	return &Command{
		Name:    "schema check",
		Summary: "check contracts against a git ref (CI; no registry needed)",
		Run: func(context.Context, IO, []string) error {
			return errors.New("not implemented yet")
		},
	}
}

func schemaListCommand() *Command {
	return &Command{
		Name:    "schema list",
		Summary: "list subjects and their latest versions",
		Run: func(context.Context, IO, []string) error {
			return errors.New("not implemented yet")
		},
	}
}

func schemaShowCommand() *Command {
	return &Command{
		Name:    "schema show",
		Summary: "print a version as .proto source",
		Run: func(context.Context, IO, []string) error {
			return errors.New("not implemented yet")
		},
	}
}

func schemaDiffCommand() *Command {
	return &Command{
		Name:    "schema diff",
		Summary: "show what changed between two versions of a subject",
		Run: func(context.Context, IO, []string) error {
			return errors.New("not implemented yet")
		},
	}
}
