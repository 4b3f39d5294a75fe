package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/spf13/cobra"
)

func (g *globals) client() (*client.Client, error) {
	cfg, err := client.LoadConfig(client.ConfigPath(g.config))
	if err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Warn: func(msg string) {
		fmt.Fprintln(os.Stderr, "Warning:", msg)
	}})
}

// addNamespaceFlag adds -n / --namespace.
func (g *globals) addNamespaceFlag(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&g.namespace, "namespace", "n", "", "namespace (default \"default\")")
}

func (g *globals) ns() string {
	if g.namespace == "" {
		return "default"
	}
	return g.namespace
}

// kindName is how objects are named in output: "configmap/demo".
func kindName(res *resources.Resource, obj apis.Object) string {
	return strings.ToLower(res.Kind) + "/" + obj.GetName()
}

// splitTypes reads "deploy,rs,pods" into resources.
func splitTypes(reg *resources.Registry, arg string) ([]*resources.Resource, error) {
	var out []*resources.Resource
	for _, name := range strings.Split(arg, ",") {
		if name == "" {
			continue
		}
		res, err := reg.Resolve(name)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no resource type given")
	}
	return out, nil
}

// parseTypeName reads "cm/demo" into its parts; a bare word is a type.
func parseTypeName(arg string) (typ, name string) {
	typ, name, _ = strings.Cut(arg, "/")
	return typ, name
}
