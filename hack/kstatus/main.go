// kstatus prints how sigs.k8s.io/cli-utils/pkg/kstatus (the library Flux and
// cli-utils use to judge readiness) reads each object of a JSON list on stdin:
// one JSON line per object, {"name", "status", "message"}.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func main() {
	var items []map[string]interface{}
	// apimachinery's decoder keeps integers int64, as unstructured objects expect.
	data, err := io.ReadAll(os.Stdin)
	if err == nil {
		err = utiljson.Unmarshal(data, &items)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus: reading a JSON array of objects:", err)
		os.Exit(2)
	}
	out := json.NewEncoder(os.Stdout)
	for _, item := range items {
		u := &unstructured.Unstructured{Object: item}
		result, err := status.Compute(u)
		if err != nil {
			fmt.Fprintf(os.Stderr, "kstatus: %s: %v\n", u.GetName(), err)
			os.Exit(1)
		}
		_ = out.Encode(map[string]string{
			"name":    u.GetName(),
			"status":  result.Status.String(),
			"message": result.Message,
		})
	}
}
