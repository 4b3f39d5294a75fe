package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/skiffhq/skiff/apis/client"
	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

func newDeleteCmd(g *globals) *cobra.Command {
	var files []string
	var selector string
	var ignoreNotFound bool
	cmd := &cobra.Command{
		Use:   "delete (-f FILE | TYPE NAME... | TYPE/NAME... | TYPE -l SELECTOR)",
		Short: "Delete objects",
		Example: `  skiff delete -f examples/cm.yaml
  skiff delete configmap demo
  skiff delete pods -l app=web`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx, out := cmd.Context(), cmd.OutOrStdout()
			type victim struct {
				t   getTarget
				ns  string
				obj string
			}
			var victims []victim
			switch {
			case len(files) > 0:
				if len(args) > 0 {
					return errors.New("give either -f or TYPE NAME, not both")
				}
				docs, err := readManifests(files, c.Registry(), cmd.InOrStdin())
				if err != nil {
					return err
				}
				for i := range docs {
					if err := placeNamespace(&docs[i], g.namespace); err != nil {
						return err
					}
					victims = append(victims, victim{t: getTarget{res: docs[i].res}, ns: docs[i].obj.GetNamespace(), obj: docs[i].obj.GetName()})
				}
			case len(args) == 0:
				return errors.New("say what to delete: -f FILE, TYPE NAME, or TYPE -l SELECTOR")
			default:
				targets, err := parseGetArgs(c.Registry(), args)
				if err != nil {
					return err
				}
				for _, t := range targets {
					ns := ""
					if t.res.Namespaced {
						ns = g.ns()
					}
					if len(t.names) == 0 {
						if selector == "" {
							return fmt.Errorf("name the %s to delete, or select them with -l", t.res.Plural)
						}
						list, err := listAll(ctx, c, t.res, client.ListOptions{Namespace: ns, LabelSelector: selector})
						if err != nil {
							return err
						}
						for _, o := range list.Items {
							victims = append(victims, victim{t: t, ns: ns, obj: o.GetName()})
						}
						if len(list.Items) == 0 {
							fmt.Fprintf(os.Stderr, "No %s match %q.\n", t.res.Plural, selector)
						}
						continue
					}
					for _, n := range t.names {
						victims = append(victims, victim{t: t, ns: ns, obj: n})
					}
				}
			}
			var failed error
			for _, v := range victims {
				obj, err := c.Delete(ctx, v.t.res, v.ns, v.obj, nil)
				if apierrors.IsNotFound(err) && ignoreNotFound {
					continue
				}
				if err != nil {
					fmt.Fprintln(os.Stderr, describeError(err))
					failed = errAlreadyReported{}
					continue
				}
				fmt.Fprintf(out, "%s deleted\n", kindName(v.t.res, obj))
			}
			return failed
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "delete the objects of these manifests")
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "delete the objects matching this label selector")
	cmd.Flags().BoolVar(&ignoreNotFound, "ignore-not-found", false, "treat objects that do not exist as deleted")
	g.addNamespaceFlag(cmd)
	return cmd
}
