package resources

import (
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/defaults"
	"github.com/skiffhq/skiff/apis/validation"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
)

func podResources() []*Resource {
	return []*Resource{{
		Version: "v1", Kind: "Pod", Plural: "pods", Singular: "pod", ShortNames: []string{"po"},
		Namespaced: true, Collected: true, HasStatus: true,
		New:      func() apis.Object { return &corev1.Pod{} },
		Default:  defaults.Pod,
		Validate: validation.Pod,
		Fields: func(obj apis.Object) fields.Set {
			p := obj.(*corev1.Pod)
			return fields.Set{
				"spec.nodeName":      p.Spec.NodeName,
				"spec.schedulerName": p.Spec.SchedulerName,
				"status.phase":       string(p.Status.Phase),
				"status.podIP":       p.Status.PodIP,
			}
		},
		WatchIndex: "spec.nodeName",
		Acted:      append(append([]string{}, metadataActed...), podSpecActed("spec")...),
	}}
}

// containerActed are the container fields the agent acts on.
var containerActed = []string{
	"name", "image", "imagePullPolicy", "command", "args", "workingDir", "env", "envFrom",
	"ports", "resources.requests", "resources.limits", "volumeMounts[].name", "volumeMounts[].mountPath",
	"volumeMounts[].readOnly", "volumeMounts[].subPath",
	"livenessProbe", "readinessProbe", "startupProbe", "lifecycle.preStop",
}

// podSpecActed lists what the agent acts on in a pod spec at prefix
// ("spec", or "spec.template.spec" for the kinds that embed one).
func podSpecActed(prefix string) []string {
	out := []string{
		prefix + ".nodeName", prefix + ".restartPolicy", prefix + ".terminationGracePeriodSeconds",
		prefix + ".imagePullSecrets", prefix + ".hostname", prefix + ".hostAliases",
		prefix + ".volumes[].name", prefix + ".volumes[].emptyDir", prefix + ".volumes[].hostPath",
		prefix + ".volumes[].configMap", prefix + ".volumes[].secret", prefix + ".volumes[].projected",
		prefix + ".volumes[].downwardAPI", prefix + ".volumes[].persistentVolumeClaim",
		// What the scheduler acts on.
		prefix + ".nodeSelector", prefix + ".tolerations", prefix + ".priority", prefix + ".schedulerName",
		prefix + ".affinity.nodeAffinity", prefix + ".affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution",
	}
	for _, kind := range []string{"containers", "initContainers"} {
		for _, f := range containerActed {
			out = append(out, prefix+"."+kind+"[]."+f)
		}
	}
	return out
}
