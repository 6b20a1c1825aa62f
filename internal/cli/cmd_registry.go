package cli

import (
	"context"
	"errors"
)

func registryServeCommand() *Command {
	return &Command{
		Name:    "registry serve",
		Summary: "run the schema registry gRPC service",
		Run: func(context.Context, IO, []string) error {
			return errors.New("not implemented yet")
		},
	}
}
