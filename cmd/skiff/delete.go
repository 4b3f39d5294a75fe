package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func newDeleteCmd(g *globals) *cobra.Command {
	var files []string
	var selector string
	var ignoreNotFound bool
	var all, wait bool
	var gracePeriod int64
	var cascade string
	cmd := &cobra.Command{
		Use:   "delete (-f FILE | TYPE NAME... | TYPE/NAME... | TYPE -l SELECTOR)",
		Short: "Delete objects",
		Example: `  skiff delete -f examples/cm.yaml
  skiff delete configmap demo
  skiff delete pods -l app=web
  skiff delete deployment web --cascade=orphan   # keep its ReplicaSets and pods`,
		RunE: func(cmd *cobra.Command, args []string) error {
			policy, err := parseCascade(cascade)
			if err != nil {
				return err
			}
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
						if selector == "" && !all {
							return fmt.Errorf("name the %s to delete, or select them with -l or --all", t.res.Plural)
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
			opts := metav1.DeleteOptions{PropagationPolicy: &policy}
			if gracePeriod >= 0 {
				opts.GracePeriodSeconds = &gracePeriod
			}
			var pending []victim
			for _, v := range victims {
				obj, err := c.DeleteWithOptions(ctx, v.t.res, v.ns, v.obj, opts)
				if apierrors.IsNotFound(err) && ignoreNotFound {
					continue
				}
				if err != nil {
					fmt.Fprintln(os.Stderr, describeError(err))
					failed = errAlreadyReported{}
					continue
				}
				fmt.Fprintf(out, "%s deleted\n", kindName(v.t.res, obj))
				if obj.GetDeletionTimestamp() != nil {
					pending = append(pending, v)
				}
			}
			if wait {
				for _, v := range pending {
					if err := waitGone(ctx, c, v.t.res, v.ns, v.obj); err != nil {
						fmt.Fprintln(os.Stderr, describeError(err))
						failed = errAlreadyReported{}
					}
				}
			}
			return failed
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "delete the objects of these manifests")
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "delete the objects matching this label selector")
	cmd.Flags().BoolVar(&ignoreNotFound, "ignore-not-found", false, "treat objects that do not exist as deleted")
	cmd.Flags().BoolVar(&all, "all", false, "delete every object of the type in the namespace")
	cmd.Flags().BoolVar(&wait, "wait", true, "wait until objects being finalized (pods stopping on their node, owners waiting for their dependents) are gone")
	cmd.Flags().StringVar(&cascade, "cascade", "background", `what happens to dependents (objects whose ownerReferences name a deleted one): "background" deletes them after it, "foreground" before it, "orphan" keeps them`)
	cmd.Flags().Int64Var(&gracePeriod, "grace-period", -1, "seconds a pod gets to stop (default: its terminationGracePeriodSeconds); 0 removes it at once")
	g.addNamespaceFlag(cmd)
	return cmd
}

// parseCascade turns --cascade into a propagation policy; true and false
// are kubectl's older spellings.
func parseCascade(v string) (metav1.DeletionPropagation, error) {
	switch v {
	case "background", "true":
		return metav1.DeletePropagationBackground, nil
	case "foreground":
		return metav1.DeletePropagationForeground, nil
	case "orphan", "false":
		return metav1.DeletePropagationOrphan, nil
	}
	return "", fmt.Errorf(`--cascade: %q is not one of "background", "foreground", "orphan"`, v)
}

// waitGone waits until an object being stopped by its node has gone,
// showing progress every few seconds.
func waitGone(ctx context.Context, c *client.Client, res *resources.Resource, namespace, name string) error {
	start := time.Now()
	last := start
	for {
		obj, err := c.Get(ctx, res, namespace, name)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if time.Since(last) >= 3*time.Second {
			why := "to stop"
			if f := obj.GetFinalizers(); len(f) > 0 {
				why = fmt.Sprintf("to go (finalizers %s)", strings.Join(f, ", "))
			}
			fmt.Fprintf(os.Stderr, "waiting for %s/%s %s (%s so far)\n", res.Singular, name, why, time.Since(start).Truncate(time.Second))
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
