package cli

import (
	"context"
	"errors"
)

func emitCommand() *Command {
	return &Command{
		Name:    "emit",
		Summary: "send events to the collector",
		Run: func(context.Context, IO, []string) error {
			return errors.New("not implemented yet")
		},
	}
}
