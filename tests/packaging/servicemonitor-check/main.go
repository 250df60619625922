// servicemonitor-check: strict validation of monitoring.coreos.com/v1 ServiceMonitor documents
// against the prometheus-operator's own Go API types (the types its CRD schema is generated
// from). kubeconform has no schema for this CRD offline, so this fills that gap: every field
// must exist in the type (unknown fields are errors) and have the right JSON type.
//
// Usage: servicemonitor-check FILE...   (multi-document YAML; other kinds are skipped)
// Prints one line per ServiceMonitor and exits 1 if any is invalid, 2 if none was found.
package main

import (
	"fmt"
	"os"
	"regexp"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"
)

// maxInput bounds what is read from one file (rendered manifests are a few KiB).
const maxInput = 4 << 20

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// The pattern the CRD puts on monitoringv1.Duration fields (the Go type is a bare string).
var durationPattern = regexp.MustCompile(`^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$`)

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

func main() {
	found, bad := 0, 0
	for _, path := range os.Args[1:] {
		if st, err := os.Stat(path); err == nil && st.Size() > maxInput {
			fmt.Fprintf(os.Stderr, "%s: larger than %d bytes\n", path, maxInput)
			os.Exit(1)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			os.Exit(1)
		}
		for i, doc := range docSeparator.Split(string(data), -1) {
			var tm typeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				fmt.Printf("%s document %d: not YAML: %v\n", path, i+1, err)
				bad++
				continue
			}
			if tm.Kind != "ServiceMonitor" {
				continue
			}
			found++
			if err := check([]byte(doc)); err != nil {
				fmt.Printf("%s document %d: ServiceMonitor invalid: %v\n", path, i+1, err)
				bad++
				continue
			}
			fmt.Printf("%s document %d: ServiceMonitor valid\n", path, i+1)
		}
	}
	if bad > 0 {
		os.Exit(1)
	}
	if found == 0 {
		fmt.Println("no ServiceMonitor found")
		os.Exit(2)
	}
}

func check(doc []byte) error {
	var sm monitoringv1.ServiceMonitor
	if err := yaml.UnmarshalStrict(doc, &sm); err != nil {
		return err
	}
	if sm.APIVersion != "monitoring.coreos.com/v1" {
		return fmt.Errorf("apiVersion %q, want monitoring.coreos.com/v1", sm.APIVersion)
	}
	if sm.Name == "" {
		return fmt.Errorf("metadata.name is empty")
	}
	if len(sm.Spec.Endpoints) == 0 {
		return fmt.Errorf("spec.endpoints is empty")
	}
	// The CRD requires a non-empty selector object; an empty one would select every Service.
	if len(sm.Spec.Selector.MatchLabels) == 0 && len(sm.Spec.Selector.MatchExpressions) == 0 {
		return fmt.Errorf("spec.selector selects every Service")
	}
	for i, ep := range sm.Spec.Endpoints {
		for name, d := range map[string]monitoringv1.Duration{"interval": ep.Interval, "scrapeTimeout": ep.ScrapeTimeout} {
			if d != "" && !durationPattern.MatchString(string(d)) {
				return fmt.Errorf("spec.endpoints[%d].%s %q is not a duration", i, name, d)
			}
		}
		if ep.Port == "" && ep.TargetPort == nil {
			return fmt.Errorf("spec.endpoints[%d] names no port", i)
		}
	}
	return nil
}
