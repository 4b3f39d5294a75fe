package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
)

func newScaleCmd(g *globals) *cobra.Command {
	var replicas int
	cmd := &cobra.Command{
		Use:     "scale TYPE/NAME --replicas N",
		Short:   "Set the number of replicas of a Deployment or ReplicaSet",
		Example: "  skiff scale deployment web --replicas 10\n  skiff scale rs/web-5d8f --replicas 0",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("replicas") {
				return fmt.Errorf("--replicas is required")
			}
			if replicas < 0 {
				return fmt.Errorf("--replicas %d: must not be negative", replicas)
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			res, name, err := workloadArg(c.Registry(), args, "Deployment", "ReplicaSet")
			if err != nil {
				return err
			}
			obj, err := patchSpec(cmd.Context(), c, res, g.ns(), name, map[string]any{"spec": map[string]any{"replicas": replicas}})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s scaled to %s\n", kindName(res, obj), strconv.Itoa(replicas))
			return nil
		},
	}
	cmd.Flags().IntVar(&replicas, "replicas", 0, "the new number of replicas")
	g.addNamespaceFlag(cmd)
	return cmd
}
