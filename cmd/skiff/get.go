package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/spf13/cobra"
)

type getOptions struct {
	allNamespaces bool
	selector      string
	fieldSelector string
	output        string
	watch         bool
}

func newGetCmd(g *globals) *cobra.Command {
	o := &getOptions{}
	cmd := &cobra.Command{
		Use:   "get TYPE[,TYPE...] [NAME...] | TYPE/NAME...",
		Short: "List objects or show some",
		Example: `  skiff get configmaps -A
  skiff get cm demo -o yaml
  skiff get pods -l app=web -w
  skiff get deploy,rs,pods -o wide`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			return runGet(cmd.Context(), c, g, o, args, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list across all namespaces")
	f.StringVarP(&o.selector, "selector", "l", "", "label selector (app=web,tier!=db)")
	f.StringVar(&o.fieldSelector, "field-selector", "", "field selector (status.phase=Running)")
	f.StringVarP(&o.output, "output", "o", "", "yaml, json, wide or name")
	f.BoolVarP(&o.watch, "watch", "w", false, "after listing, print changes as they happen")
	g.addNamespaceFlag(cmd)
	return cmd
}

// target is a type with the names asked for (none = all).
type getTarget struct {
	res   *resources.Resource
	names []string
}

func parseGetArgs(reg *resources.Registry, args []string) ([]getTarget, error) {
	if _, name := parseTypeName(args[0]); name != "" {
		var out []getTarget
		for _, a := range args {
			typ, name := parseTypeName(a)
			if name == "" {
				return nil, fmt.Errorf("%q: mix TYPE/NAME arguments only with other TYPE/NAME arguments", a)
			}
			res, err := reg.Resolve(typ)
			if err != nil {
				return nil, err
			}
			out = append(out, getTarget{res: res, names: []string{name}})
		}
		return out, nil
	}
	types, err := splitTypes(reg, args[0])
	if err != nil {
		return nil, err
	}
	if len(args) > 1 && len(types) > 1 {
		return nil, errors.New("names can follow only a single type")
	}
	var out []getTarget
	for _, res := range types {
		out = append(out, getTarget{res: res, names: args[1:]})
	}
	return out, nil
}

func runGet(ctx context.Context, c *client.Client, g *globals, o *getOptions, args []string, out io.Writer) error {
	targets, err := parseGetArgs(c.Registry(), args)
	if err != nil {
		return err
	}
	if o.watch && len(targets) != 1 {
		return errors.New("-w watches one type at a time")
	}
	ns := g.ns()
	if o.allNamespaces {
		ns = ""
	}
	var failed error
	var all []apis.Object
	// Naming exactly one object prints it as itself; anything else is a List.
	single := len(targets) == 1 && len(targets[0].names) == 1
	for i, t := range targets {
		var objs []apis.Object
		listRV := ""
		if len(t.names) > 0 {
			for _, name := range t.names {
				obj, err := c.Get(ctx, t.res, ns, name)
				if err != nil {
					fmt.Fprintln(os.Stderr, describeError(err))
					failed = errAlreadyReported{}
					continue
				}
				objs = append(objs, obj)
			}
		} else {
			list, err := listAll(ctx, c, t.res, client.ListOptions{Namespace: ns, LabelSelector: o.selector, FieldSelector: o.fieldSelector})
			if err != nil {
				return err
			}
			objs, listRV = list.Items, list.ResourceVersion
		}
		switch o.output {
		case "yaml", "json":
			all = append(all, objs...)
		case "name":
			for _, obj := range objs {
				fmt.Fprintln(out, kindName(t.res, obj))
			}
		case "", "wide":
			if len(objs) == 0 && len(t.names) == 0 && !o.watch {
				if ns == "" || !t.res.Namespaced {
					fmt.Fprintf(os.Stderr, "No %s found.\n", t.res.Plural)
				} else {
					fmt.Fprintf(os.Stderr, "No %s found in %s namespace.\n", t.res.Plural, ns)
				}
				continue
			}
			if i > 0 && len(objs) > 0 {
				fmt.Fprintln(out)
			}
			tbl := newTable(out, t.res, o.output == "wide", o.allNamespaces)
			for _, obj := range objs {
				tbl.row(obj)
			}
			tbl.flush()
			if o.watch {
				return watchRows(ctx, c, t.res, client.ListOptions{Namespace: ns, LabelSelector: o.selector, FieldSelector: o.fieldSelector, ResourceVersion: listRV}, func(obj apis.Object) {
					tbl.row(obj)
					tbl.flush()
				})
			}
		default:
			return fmt.Errorf("unknown output format %q: use yaml, json, wide or name", o.output)
		}
		if o.watch && o.output != "" && o.output != "wide" {
			if o.output != "name" {
				if err := printObjects(out, o.output, all, single); err != nil {
					return err
				}
				all = nil
			}
			return watchRows(ctx, c, t.res, client.ListOptions{Namespace: ns, LabelSelector: o.selector, FieldSelector: o.fieldSelector, ResourceVersion: listRV}, func(obj apis.Object) {
				if o.output == "name" {
					fmt.Fprintln(out, kindName(t.res, obj))
					return
				}
				if o.output == "yaml" {
					fmt.Fprintln(out, "---")
				}
				_ = printObjects(out, o.output, []apis.Object{obj}, true)
			})
		}
	}
	if len(all) > 0 || (!single && (o.output == "json" || o.output == "yaml")) {
		if err := printObjects(out, o.output, all, single); err != nil {
			return err
		}
	}
	return failed
}

// listAll reads every page of a list.
func listAll(ctx context.Context, c *client.Client, res *resources.Resource, opts client.ListOptions) (*client.List, error) {
	opts.Limit = 500
	var all client.List
	for {
		page, err := c.List(ctx, res, opts)
		if err != nil {
			return nil, err
		}
		if all.ResourceVersion == "" {
			all.ResourceVersion = page.ResourceVersion
		}
		all.Items = append(all.Items, page.Items...)
		if page.Continue == "" {
			return &all, nil
		}
		opts.Continue = page.Continue
	}
}

// watchRows prints each change until interrupted. When the watch breaks
// off it resumes from the last version seen, and relists when that is too
// old.
func watchRows(ctx context.Context, c *client.Client, res *resources.Resource, opts client.ListOptions, print func(apis.Object)) error {
	for ctx.Err() == nil {
		w, err := c.Watch(ctx, res, opts)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for ev := range w.Events() {
			if ev.Type == "ERROR" {
				opts.ResourceVersion = ""
				break
			}
			opts.ResourceVersion = ev.Object.GetResourceVersion()
			print(ev.Object)
		}
		w.Stop()
	}
	return nil
}
