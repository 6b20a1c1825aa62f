package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Local endpoints of "hem dev"; every one has a flag.
const (
	DefaultRegistryAddr  = "127.0.0.1:7070"
	DefaultCollectorAddr = "127.0.0.1:7071"
	DefaultHTTPAddr      = "127.0.0.1:7072"
	DefaultPubSubAddr    = "127.0.0.1:8085"
	DefaultGCSAddr       = "127.0.0.1:4443"
	DefaultDevDir        = ".hem"
	devInfoFile          = "dev.json"
)

// DevInfo is what a running "hem dev" writes to <dir>/dev.json so that other
// hem commands find it without flags.
type DevInfo struct {
	PID       int    `json:"pid"`
	Registry  string `json:"registry"`
	Collector string `json:"collector"`
	HTTP      string `json:"http"`
	PubSub    string `json:"pubsub"`
	GCS       string `json:"gcs"`
	Project   string `json:"project"`
	Bucket    string `json:"bucket"`
	APIKey    string `json:"api_key"`
	Warehouse string `json:"warehouse"`
}

// devDir is the dev folder: --dir, else HEM_DIR (applied to --dir by the
// env rule), else .hem.
func devDir(dir string) string {
	if dir != "" {
		return dir
	}
	return DefaultDevDir
}

// loadDevInfo reads <dir>/dev.json; it returns nil, nil when there is none.
func loadDevInfo(dir string) (*DevInfo, error) {
	b, err := os.ReadFile(filepath.Join(devDir(dir), devInfoFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read dev info: %w", err)
	}
	var info DevInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("read dev info %s: %w", filepath.Join(devDir(dir), devInfoFile), err)
	}
	return &info, nil
}

func writeDevInfo(dir string, info *DevInfo) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(devDir(dir), devInfoFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write dev info: %w", err)
	}
	return os.Rename(tmp, path)
}

// clientFlags are the flags every command that talks to hem services shares.
// Empty values fall back to the running "hem dev" (dev.json), then to the
// local defaults.
type clientFlags struct {
	Dir       string
	Registry  string
	Collector string
	APIKey    string
}

func (c *clientFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.Dir, "dir", "", "folder of the local stack, to find a running \"hem dev\" (default .hem)")
	fs.StringVar(&c.Registry, "registry", "", "registry address: host:port, or https://HOST for TLS with a Google ID token (default: the running hem dev, else "+DefaultRegistryAddr+")")
	fs.StringVar(&c.APIKey, "api-key", "", "API key (default: the development key of the running hem dev)")
}

func (c *clientFlags) bindCollector(fs *flag.FlagSet) {
	fs.StringVar(&c.Collector, "collector", "", "collector gRPC address: host:port, or https://HOST (default: the running hem dev, else "+DefaultCollectorAddr+")")
}

// resolve fills empty fields from dev.json and the defaults.
func (c *clientFlags) resolve() (*DevInfo, error) {
	info, err := loadDevInfo(c.Dir)
	if err != nil {
		return nil, err
	}
	if info != nil {
		c.Registry = cmp(c.Registry, info.Registry)
		c.Collector = cmp(c.Collector, info.Collector)
		c.APIKey = cmp(c.APIKey, info.APIKey)
	}
	c.Registry = cmp(c.Registry, DefaultRegistryAddr)
	c.Collector = cmp(c.Collector, DefaultCollectorAddr)
	return info, nil
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
