package cli

import (
	"context"
	"errors"
)

func replayCommand() *Command {
	return &Command{
		Name:    "replay",
		Summary: "read archived or failed events back into Pub/Sub or a sink",
		Run: func(context.Context, IO, []string) error {
			return errors.New("not implemented yet")
		},
	}
}
