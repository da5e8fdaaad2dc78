package config

import (
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := Load(env(nil))
	if err != nil || c.Replicas != 1 || c.NATSURL != "nats://127.0.0.1:4222" {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	c, err = Load(env(map[string]string{"OCR_KEYS_REPLICAS": "3"}))
	if err != nil || c.Replicas != 3 {
		t.Fatalf("OCR_KEYS_REPLICAS=3: %+v %v", c, err)
	}
	for _, bad := range []string{"0", "6", "three"} {
		_, err := Load(env(map[string]string{"OCR_KEYS_REPLICAS": bad}))
		if err == nil || !strings.Contains(err.Error(), "OCR_KEYS_REPLICAS") {
			t.Errorf("OCR_KEYS_REPLICAS=%s: %v", bad, err)
		}
	}
	if c.OpsAddr != "127.0.0.1:9101" {
		t.Errorf("default OCR_OPS_ADDR: %q", c.OpsAddr)
	}
	if c, err := Load(env(map[string]string{"OCR_OPS_ADDR": "off"})); err != nil || c.OpsAddr != "" {
		t.Errorf("OCR_OPS_ADDR=off: %+v %v", c, err)
	}
	_, err = Load(env(map[string]string{"OCR_LOG_LEVEL": "loud", "OCR_SHUTDOWN_TIMEOUT": "soon", "OCR_OPS_ADDR": "9101"}))
	if err == nil || !strings.Contains(err.Error(), "OCR_LOG_LEVEL") || !strings.Contains(err.Error(), "OCR_SHUTDOWN_TIMEOUT") ||
		!strings.Contains(err.Error(), "OCR_OPS_ADDR") {
		t.Errorf("every problem at once: %v", err)
	}
}
