package main

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newClusterCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Inspect and change the set of masters",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "members",
		Short: "List the masters: id, Raft address, voter, leader, last index, health",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			members, err := c.Members(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "ID\tRAFT-ADDRESS\tAPI-ADDRESS\tVOTER\tROLE\tLAST-INDEX\tAPPLIED\tHEALTHY")
			for _, m := range members {
				role := strings.ToLower(m.State)
				if m.Leader {
					role = "leader"
				} else if role == "" {
					role = "unknown"
				}
				healthy := "yes"
				if !m.Healthy {
					healthy = "no: " + m.Error
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\t%s\t%s\t%s\n", m.ID, m.RaftAddress, orNone(m.APIAddress), m.Voter, role,
					strconv.FormatUint(m.LastIndex, 10), strconv.FormatUint(m.AppliedIdx, 10), healthy)
			}
			return tw.Flush()
		},
	}, &cobra.Command{
		Use:   "remove-member ID",
		Short: "Take a master out of the cluster (for one that is gone for good)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.RemoveMember(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "master %s removed\n", args[0])
			return nil
		},
	})
	return cmd
}
