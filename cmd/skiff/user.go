package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/pki"
	"github.com/skiffhq/skiff/apis/skiffv1"
	"github.com/spf13/cobra"
)

func newUserCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage the people and programs that use the API"}
	var role, namespace, out string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a user and write its client config (NAME.conf)",
		Long: "Create a user with a role (admin, edit or view; --namespace limits it to one namespace) and write a client config\n" +
			"holding the user's certificate and key, the CA and the masters' addresses. The key never leaves this machine.\n" +
			"Delete the user (`skiff delete user NAME`) to revoke it.",
		Example: `  skiff user create alice --role view
  SKIFF_CONFIG=alice.conf skiff get pods -A`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if out == "" {
				out = name + ".conf"
			}
			if _, err := os.Stat(out); err == nil {
				return fmt.Errorf("%s exists: remove it or pass --out", out)
			} else if !errors.Is(err, os.ErrNotExist) {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			csr, keyPEM, err := pki.NewCSR(pki.UserName(name))
			if err != nil {
				return err
			}
			resp, err := c.CreateUser(cmd.Context(), &skiffv1.UserRequest{Name: name, Role: role, Namespace: namespace, CSR: string(csr)})
			if err != nil {
				return err
			}
			cfg := &client.Config{Servers: resp.Servers, CertificateAuthority: resp.CABundle, ClientCertificate: resp.Certificate, ClientKey: string(keyPEM)}
			if len(cfg.Servers) == 0 {
				cfg.Servers = c.Servers()
			}
			abs, _ := filepath.Abs(out)
			if err := client.WriteConfig(out, cfg); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "user/%s created (role %s); client config written to %s\n", name, role, abs)
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", "view", "admin, edit or view")
	create.Flags().StringVar(&namespace, "namespace", "", "limit the role to this namespace")
	create.Flags().StringVarP(&out, "out", "o", "", "where to write the client config (default NAME.conf)")
	cmd.AddCommand(create)
	return cmd
}

func newSecretsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "secrets", Short: "Manage the encryption of secrets at rest"}
	cmd.AddCommand(&cobra.Command{
		Use:   "rotate-key",
		Short: "Make a new secrets encryption key and re-encrypt every Secret with it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			resp, err := c.RotateSecretsKey(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "new key %s; %d secrets re-encrypted\n", resp.KeyID, resp.Reencrypted)
			return nil
		},
	})
	return cmd
}

func newCACmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "ca", Short: "Manage the cluster's certificate authority"}
	cmd.AddCommand(&cobra.Command{
		Use:   "rotate",
		Short: "Replace the root CA; old and new stay trusted (cross-signed) while certificates renew",
		Long: "Replace the cluster's root CA without downtime: the new root is cross-signed by the old one, both are trusted,\n" +
			"every master re-issues its certificate from the new root, and nodes take it at their next renewal.\n" +
			"Join tokens made before the rotation stop working: create new ones.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			resp, err := c.RotateCA(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "new cluster CA sha256 %s; %d master(s) switched now, others within a minute\nold join tokens no longer work: create new ones with `skiff token create`\n", resp.Digest, resp.Masters)
			return nil
		},
	})
	return cmd
}
