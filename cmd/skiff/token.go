package main

import (
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/skiffv1"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/duration"
)

func newTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage join tokens"}
	var role, description string
	var ttl time.Duration
	create := &cobra.Command{
		Use:   "create",
		Short: "Make a join token; prints it alone on stdout",
		Example: `  skiff token create --role worker --ttl 1h
  skiff token create --role server --ttl 0     # never expires`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			secs := int64(ttl / time.Second)
			resp, err := c.CreateToken(cmd.Context(), &skiffv1.TokenRequest{Role: role, TTLSeconds: &secs, Description: description})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), resp.Token)
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", skiffv1.RoleWorker, "what the token makes of a host: worker or server")
	create.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token works; 0 = forever")
	create.Flags().StringVar(&description, "description", "", "what the token is for")
	list := &cobra.Command{
		Use:   "list",
		Short: "List join tokens: id, role, expiry, uses (never the secret)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			res, _ := c.Registry().ByKind("JoinToken")
			l, err := listAll(cmd.Context(), c, res, client.ListOptions{})
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "ID\tROLE\tEXPIRES\tUSES\tLAST-USED\tAGE\tDESCRIPTION")
			for _, o := range l.Items {
				t := o.(*skiffv1.JoinToken)
				expires := "never"
				if t.Spec.Expires != nil {
					if time.Now().After(t.Spec.Expires.Time) {
						expires = "expired"
					} else {
						expires = "in " + duration.HumanDuration(time.Until(t.Spec.Expires.Time))
					}
				}
				last := "never"
				if t.Status.LastUsed != nil {
					last = duration.HumanDuration(time.Since(t.Status.LastUsed.Time)) + " ago"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Spec.Role, expires, strconv.FormatInt(t.Status.Uses, 10), last, age(t), t.Spec.Description)
			}
			return tw.Flush()
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke ID...",
		Short: "Revoke join tokens",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			res, _ := c.Registry().ByKind("JoinToken")
			for _, id := range args {
				if _, err := c.Delete(cmd.Context(), res, "", id, nil); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "token %s revoked\n", id)
			}
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
