package main

import "context"

// temporalCommands are the commands that talk to Temporal.
func temporalCommands() map[string]func(context.Context, []string) error {
	return map[string]func(context.Context, []string) error{}
}
