package validation_test

import (
	"strings"
	"testing"

	"github.com/skiffhq/skiff/apis/manifest"
	"github.com/skiffhq/skiff/apis/resources"
	"sigs.k8s.io/yaml"
)

// Each case is a manifest that must be refused, and the field path the
// error must name. Defaults are applied first, as the API does.
func TestInvalidManifestsNameTheField(t *testing.T) {
	cases := []struct {
		name, manifest, field string
	}{
		{"pod without containers", `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: default}
spec: {containers: []}`, "spec.containers"},
		{"container without image", `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: default}
spec: {containers: [{name: c}]}`, "spec.containers[0].image"},
		{"duplicate container names", `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: default}
spec: {containers: [{name: c, image: a}, {name: c, image: b}]}`, "spec.containers[1].name"},
		{"bad container port", `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: default}
spec: {containers: [{name: c, image: a, ports: [{containerPort: 70000}]}]}`, "spec.containers[0].ports[0].containerPort"},
		{"bad memory quantity", `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: default}
spec: {containers: [{name: c, image: a, resources: {requests: {memory: -64Mi}}}]}`, "spec.containers[0].resources.requests"},
		{"upper-case name", `apiVersion: v1
kind: ConfigMap
metadata: {name: Demo, namespace: default}`, "metadata.name"},
		{"bad configmap key", `apiVersion: v1
kind: ConfigMap
metadata: {name: demo, namespace: default}
data: {"a b": x}`, "data[a b]"},
		{"selector does not match template", `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: c, image: a}]}`, "spec.template.metadata.labels"},
		{"rolling update that cannot progress", `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  strategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: a}]}`, "spec.strategy.rollingUpdate"},
		{"negative replicas", `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: -1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: a}]}`, "spec.replicas"},
		{"unknown taint effect", `apiVersion: v1
kind: Node
metadata: {name: n1}
spec: {taints: [{key: dedicated, value: db, effect: Sometimes}]}`, "spec.taints[0].effect"},
		{"unknown toleration effect", `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: default}
spec:
  containers: [{name: c, image: a}]
  tolerations: [{key: dedicated, operator: Exists, effect: Sometimes}]`, "spec.tolerations[0].effect"},
		{"service port out of range", `apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {selector: {app: web}, ports: [{port: 0}]}`, "spec.ports[0].port"},
		{"hpa min above max", `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: default}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 5
  maxReplicas: 2`, "spec.maxReplicas"},
		{"claim without a size", `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: default}
spec: {accessModes: [ReadWriteOnce]}`, "spec.resources.requests[storage]"},
		{"claim with an unknown access mode", `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: default}
spec: {accessModes: [ReadWriteSometimes], resources: {requests: {storage: 1Gi}}}`, "spec.accessModes[0]"},
		{"block claim", `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: default}
spec: {accessModes: [ReadWriteOnce], volumeMode: Block, resources: {requests: {storage: 1Gi}}}`, "spec.volumeMode"},
		{"local volume on no node", `apiVersion: v1
kind: PersistentVolume
metadata: {name: pv1}
spec: {capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce], local: {path: /srv/data}}`, "spec.nodeAffinity.required"},
		{"volume with a relative path", `apiVersion: v1
kind: PersistentVolume
metadata: {name: pv1}
spec: {capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce], hostPath: {path: srv/data}}`, "spec.hostPath.path"},
		{"volume recycled", `apiVersion: v1
kind: PersistentVolume
metadata: {name: pv1}
spec: {capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce], hostPath: {path: /srv/data}, persistentVolumeReclaimPolicy: Recycle}`, "spec.persistentVolumeReclaimPolicy"},
		{"local-path class binding at once", `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: fast}
provisioner: skiff.io/local-path
volumeBindingMode: Immediate`, "volumeBindingMode"},
	}
	reg := resources.Default()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			js, err := yaml.YAMLToJSON([]byte(tc.manifest))
			if err != nil {
				t.Fatal(err)
			}
			docs, err := manifest.Split(strings.NewReader(string(js)), "test")
			if err != nil || len(docs) != 1 {
				t.Fatalf("split: %v", err)
			}
			res, err := reg.ByGVK(docs[0].Header.APIVersion, docs[0].Header.Kind)
			if err != nil {
				t.Fatal(err)
			}
			obj, _, err := manifest.Decode(res, docs[0].JSON)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if res.Default != nil {
				res.Default(obj)
			}
			errs := res.Validate(obj, nil)
			if len(errs) == 0 {
				t.Fatal("accepted")
			}
			if !strings.Contains(errs.ToAggregate().Error(), tc.field) {
				t.Fatalf("errors do not name %s: %v", tc.field, errs)
			}
		})
	}
}
