package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/skiffv1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// column is one column of a kind's table; wide columns show with -o wide.
type column struct {
	name  string
	wide  bool
	value func(apis.Object) string
}

func age(obj apis.Object) string {
	ts := obj.GetCreationTimestamp()
	if ts.Time.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(ts.Time))
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// columnsFor returns a kind's table columns, NAME first and AGE last as
// kubectl does.
func columnsFor(res *resources.Resource) []column {
	name := column{name: "NAME", value: func(o apis.Object) string { return o.GetName() }}
	ageCol := column{name: "AGE", value: age}
	var mid []column
	switch res.Kind {
	case "Namespace":
		mid = []column{{name: "STATUS", value: func(o apis.Object) string { return string(o.(*corev1.Namespace).Status.Phase) }}}
	case "ConfigMap":
		mid = []column{{name: "DATA", value: func(o apis.Object) string {
			cm := o.(*corev1.ConfigMap)
			return strconv.Itoa(len(cm.Data) + len(cm.BinaryData))
		}}}
	case "Secret":
		mid = []column{
			{name: "TYPE", value: func(o apis.Object) string { return string(o.(*corev1.Secret).Type) }},
			{name: "DATA", value: func(o apis.Object) string { return strconv.Itoa(len(o.(*corev1.Secret).Data)) }},
		}
	case "Pod":
		mid = podColumns()
	case "Node":
		mid = nodeColumns()
	case "Service":
		mid = serviceColumns()
	case "Endpoints":
		mid = []column{{name: "ENDPOINTS", value: endpointsSummary}}
	case "Deployment":
		mid = []column{
			{name: "READY", value: func(o apis.Object) string {
				d := o.(*appsv1.Deployment)
				return fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, replicas(d.Spec.Replicas))
			}},
			{name: "UP-TO-DATE", value: func(o apis.Object) string { return strconv.Itoa(int(o.(*appsv1.Deployment).Status.UpdatedReplicas)) }},
			{name: "AVAILABLE", value: func(o apis.Object) string { return strconv.Itoa(int(o.(*appsv1.Deployment).Status.AvailableReplicas)) }},
		}
	case "ReplicaSet":
		mid = []column{
			{name: "DESIRED", value: func(o apis.Object) string { return strconv.Itoa(int(replicas(o.(*appsv1.ReplicaSet).Spec.Replicas))) }},
			{name: "CURRENT", value: func(o apis.Object) string { return strconv.Itoa(int(o.(*appsv1.ReplicaSet).Status.Replicas)) }},
			{name: "READY", value: func(o apis.Object) string { return strconv.Itoa(int(o.(*appsv1.ReplicaSet).Status.ReadyReplicas)) }},
		}
	case "HorizontalPodAutoscaler":
		mid = hpaColumns()
	case "PodDisruptionBudget":
		orDash := func(v *intstr.IntOrString) string {
			if v == nil {
				return "N/A"
			}
			return v.String()
		}
		mid = []column{
			{name: "MIN AVAILABLE", value: func(o apis.Object) string { return orDash(o.(*policyv1.PodDisruptionBudget).Spec.MinAvailable) }},
			{name: "MAX UNAVAILABLE", value: func(o apis.Object) string { return orDash(o.(*policyv1.PodDisruptionBudget).Spec.MaxUnavailable) }},
			{name: "ALLOWED DISRUPTIONS", value: func(o apis.Object) string {
				return strconv.Itoa(int(o.(*policyv1.PodDisruptionBudget).Status.DisruptionsAllowed))
			}},
		}
	case "PersistentVolumeClaim":
		mid = claimColumns()
	case "PersistentVolume":
		mid = volumeColumns()
	case "StorageClass":
		mid = storageClassColumns()
	case "Event":
		return eventColumns()
	case "Member":
		mid = []column{
			{name: "RAFT-ADDRESS", value: func(o apis.Object) string { return o.(*skiffv1.Member).Spec.RaftAddress }},
			{name: "API-ADDRESS", value: func(o apis.Object) string { return o.(*skiffv1.Member).Spec.APIAddress }},
		}
	case "JoinToken":
		mid = []column{
			{name: "ROLE", value: func(o apis.Object) string { return o.(*skiffv1.JoinToken).Spec.Role }},
			{name: "EXPIRES", value: func(o apis.Object) string {
				if e := o.(*skiffv1.JoinToken).Spec.Expires; e != nil {
					return e.UTC().Format(time.RFC3339)
				}
				return "never"
			}},
			{name: "USES", value: func(o apis.Object) string { return strconv.FormatInt(o.(*skiffv1.JoinToken).Status.Uses, 10) }},
		}
	}
	cols := append([]column{name}, mid...)
	return append(cols, ageCol)
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

func podColumns() []column {
	return []column{
		{name: "READY", value: func(o apis.Object) string {
			p := o.(*corev1.Pod)
			ready := 0
			for _, cs := range p.Status.ContainerStatuses {
				if cs.Ready {
					ready++
				}
			}
			return fmt.Sprintf("%d/%d", ready, len(p.Spec.Containers))
		}},
		{name: "STATUS", value: podStatus},
		{name: "RESTARTS", value: func(o apis.Object) string {
			n := int32(0)
			for _, cs := range o.(*corev1.Pod).Status.ContainerStatuses {
				n += cs.RestartCount
			}
			return strconv.Itoa(int(n))
		}},
		{name: "IP", wide: true, value: func(o apis.Object) string { return orNone(o.(*corev1.Pod).Status.PodIP) }},
		{name: "NODE", wide: true, value: func(o apis.Object) string { return orNone(o.(*corev1.Pod).Spec.NodeName) }},
	}
}

// podStatus is the STATUS column: a waiting or terminated container's
// reason when there is one, else the phase.
func podStatus(o apis.Object) string {
	p := o.(*corev1.Pod)
	if p.DeletionTimestamp != nil {
		return "Terminating"
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			return w.Reason
		}
		if t := cs.State.Terminated; t != nil && t.Reason != "" && p.Status.Phase != corev1.PodSucceeded {
			return t.Reason
		}
	}
	if p.Status.Phase == "" {
		return string(corev1.PodPending)
	}
	return string(p.Status.Phase)
}

func nodeColumns() []column {
	return []column{
		{name: "STATUS", value: func(o apis.Object) string {
			n := o.(*corev1.Node)
			status := "Unknown"
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady {
					if c.Status == corev1.ConditionTrue {
						status = "Ready"
					} else {
						status = "NotReady"
					}
				}
			}
			if n.Spec.Unschedulable {
				status += ",SchedulingDisabled"
			}
			return status
		}},
		{name: "ROLES", value: func(o apis.Object) string {
			var roles []string
			for k := range o.GetLabels() {
				if r, ok := strings.CutPrefix(k, "node-role.kubernetes.io/"); ok {
					roles = append(roles, r)
				}
			}
			sort.Strings(roles)
			return orNone(strings.Join(roles, ","))
		}},
		{name: "VERSION", value: func(o apis.Object) string { return o.(*corev1.Node).Status.NodeInfo.KubeletVersion }},
		{name: "INTERNAL-IP", wide: true, value: func(o apis.Object) string {
			for _, a := range o.(*corev1.Node).Status.Addresses {
				if a.Type == corev1.NodeInternalIP {
					return a.Address
				}
			}
			return "<none>"
		}},
		{name: "OS-IMAGE", wide: true, value: func(o apis.Object) string { return o.(*corev1.Node).Status.NodeInfo.OSImage }},
		{name: "CONTAINER-RUNTIME", wide: true, value: func(o apis.Object) string {
			return o.(*corev1.Node).Status.NodeInfo.ContainerRuntimeVersion
		}},
	}
}

func serviceColumns() []column {
	return []column{
		{name: "TYPE", value: func(o apis.Object) string { return string(o.(*corev1.Service).Spec.Type) }},
		{name: "CLUSTER-IP", value: func(o apis.Object) string { return orNone(o.(*corev1.Service).Spec.ClusterIP) }},
		{name: "EXTERNAL-IP", value: func(o apis.Object) string {
			return orNone(strings.Join(o.(*corev1.Service).Spec.ExternalIPs, ","))
		}},
		{name: "PORT(S)", value: func(o apis.Object) string {
			var ports []string
			for _, p := range o.(*corev1.Service).Spec.Ports {
				s := strconv.Itoa(int(p.Port))
				if p.NodePort != 0 {
					s += ":" + strconv.Itoa(int(p.NodePort))
				}
				ports = append(ports, s+"/"+string(p.Protocol))
			}
			return orNone(strings.Join(ports, ","))
		}},
		{name: "SELECTOR", wide: true, value: func(o apis.Object) string {
			return orNone(labelsString(o.(*corev1.Service).Spec.Selector))
		}},
	}
}

func endpointsSummary(o apis.Object) string {
	var out []string
	for _, s := range o.(*corev1.Endpoints).Subsets {
		for _, a := range s.Addresses {
			for _, p := range s.Ports {
				out = append(out, fmt.Sprintf("%s:%d", a.IP, p.Port))
			}
		}
	}
	if len(out) > 3 {
		return strings.Join(out[:3], ",") + fmt.Sprintf(" + %d more...", len(out)-3)
	}
	return orNone(strings.Join(out, ","))
}

func hpaColumns() []column {
	return []column{
		{name: "REFERENCE", value: func(o apis.Object) string {
			r := o.(*autoscalingv2.HorizontalPodAutoscaler).Spec.ScaleTargetRef
			return r.Kind + "/" + r.Name
		}},
		{name: "TARGETS", value: func(o apis.Object) string {
			h := o.(*autoscalingv2.HorizontalPodAutoscaler)
			var out []string
			for i, m := range h.Spec.Metrics {
				if m.Resource == nil || m.Resource.Target.AverageUtilization == nil {
					continue
				}
				cur := "<unknown>"
				if i < len(h.Status.CurrentMetrics) {
					if cm := h.Status.CurrentMetrics[i].Resource; cm != nil && cm.Current.AverageUtilization != nil {
						cur = fmt.Sprintf("%d%%", *cm.Current.AverageUtilization)
					}
				}
				out = append(out, fmt.Sprintf("%s/%d%%", cur, *m.Resource.Target.AverageUtilization))
			}
			return orNone(strings.Join(out, ", "))
		}},
		{name: "MINPODS", value: func(o apis.Object) string {
			return strconv.Itoa(int(replicas(o.(*autoscalingv2.HorizontalPodAutoscaler).Spec.MinReplicas)))
		}},
		{name: "MAXPODS", value: func(o apis.Object) string {
			return strconv.Itoa(int(o.(*autoscalingv2.HorizontalPodAutoscaler).Spec.MaxReplicas))
		}},
		{name: "REPLICAS", value: func(o apis.Object) string {
			return strconv.Itoa(int(o.(*autoscalingv2.HorizontalPodAutoscaler).Status.CurrentReplicas))
		}},
	}
}

func eventColumns() []column {
	return []column{
		{name: "LAST SEEN", value: func(o apis.Object) string {
			e := o.(*corev1.Event)
			t := e.LastTimestamp.Time
			if t.IsZero() {
				t = e.EventTime.Time
			}
			if t.IsZero() {
				t = e.CreationTimestamp.Time
			}
			return duration.HumanDuration(time.Since(t))
		}},
		{name: "TYPE", value: func(o apis.Object) string { return o.(*corev1.Event).Type }},
		{name: "REASON", value: func(o apis.Object) string { return o.(*corev1.Event).Reason }},
		{name: "OBJECT", value: func(o apis.Object) string {
			io := o.(*corev1.Event).InvolvedObject
			return strings.ToLower(io.Kind) + "/" + io.Name
		}},
		{name: "MESSAGE", value: func(o apis.Object) string { return o.(*corev1.Event).Message }},
	}
}

func labelsString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

// table prints objects of one kind as aligned columns.
type table struct {
	w          *tabwriter.Writer
	cols       []column
	namespaces bool
	headerDone bool
}

func newTable(out io.Writer, res *resources.Resource, wide, namespaces bool) *table {
	var cols []column
	for _, c := range columnsFor(res) {
		if !c.wide || wide {
			cols = append(cols, c)
		}
	}
	return &table{w: tabwriter.NewWriter(out, 0, 8, 3, ' ', 0), cols: cols, namespaces: namespaces && res.Namespaced}
}

func (t *table) row(obj apis.Object) {
	if !t.headerDone {
		var names []string
		if t.namespaces {
			names = append(names, "NAMESPACE")
		}
		for _, c := range t.cols {
			names = append(names, c.name)
		}
		fmt.Fprintln(t.w, strings.Join(names, "\t"))
		t.headerDone = true
	}
	var vals []string
	if t.namespaces {
		vals = append(vals, obj.GetNamespace())
	}
	for _, c := range t.cols {
		vals = append(vals, c.value(obj))
	}
	fmt.Fprintln(t.w, strings.Join(vals, "\t"))
}

func (t *table) flush() { t.w.Flush() }

// printObjects writes objects in one of the -o formats: one object as
// itself when single (the user named exactly one), else a List, as kubectl
// does, even with one item or none.
func printObjects(out io.Writer, format string, objs []apis.Object, single bool) error {
	var v any
	if single && len(objs) == 1 {
		v = objs[0]
	} else {
		v = struct {
			APIVersion string          `json:"apiVersion"`
			Kind       string          `json:"kind"`
			Metadata   metav1.ListMeta `json:"metadata"`
			Items      []apis.Object   `json:"items"`
		}{"v1", "List", metav1.ListMeta{}, append([]apis.Object{}, objs...)}
	}
	switch format {
	case "json":
		raw, err := json.MarshalIndent(v, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(out, string(raw))
		return err
	case "yaml":
		raw, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = out.Write(raw)
		return err
	}
	return fmt.Errorf("unknown output format %q: use yaml, json, wide or name", format)
}
