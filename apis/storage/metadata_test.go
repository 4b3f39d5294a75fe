package storage_test

import (
	"testing"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/storage"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// objectRecord is a Record that offers no metadata of its own.
type objectRecord struct{ obj apis.Object }

func (r objectRecord) Object() apis.Object { return r.obj }
func (r objectRecord) JSON() []byte        { return nil }
func (r objectRecord) Kind() string        { return "ConfigMap" }

// metaRecord offers its metadata; its object must not be asked for.
type metaRecord struct {
	objectRecord
	meta *metav1.ObjectMeta
}

func (r metaRecord) Meta() metav1.Object { return r.meta }
func (r metaRecord) Object() apis.Object { panic("the object was decoded") }

func TestPartialMetadata(t *testing.T) {
	res, _ := resources.Default().ByKind("Deployment")
	meta := metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "u", ResourceVersion: "7", Labels: map[string]string{"app": "web"},
		OwnerReferences: []metav1.OwnerReference{{Kind: "X", Name: "x", UID: "x-uid"}}, Finalizers: []string{"f"}}
	u := &unstructured.Unstructured{}
	u.SetName("web")
	u.SetNamespace("default")
	u.SetUID("u")
	u.SetResourceVersion("7")
	u.SetLabels(map[string]string{"app": "web"})
	u.SetOwnerReferences(meta.OwnerReferences)
	u.SetFinalizers([]string{"f"})
	for name, rec := range map[string]storage.Record{
		"metadata record":           metaRecord{meta: &meta},
		"typed object":              objectRecord{obj: &corev1.ConfigMap{ObjectMeta: meta}},
		"object without ObjectMeta": objectRecord{obj: u},
	} {
		got := storage.PartialMetadata(res, rec)
		if got.APIVersion != "apps/v1" || got.Kind != "Deployment" || got.Name != "web" || got.Namespace != "default" || got.UID != "u" ||
			got.ResourceVersion != "7" || got.Labels["app"] != "web" || len(got.OwnerReferences) != 1 || got.OwnerReferences[0].UID != "x-uid" ||
			len(got.Finalizers) != 1 {
			t.Errorf("%s: %+v", name, got)
		}
	}
}
