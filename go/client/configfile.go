package client

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/metald/metald-client/go/metald"
)

// VMConfigFile is the Go client's JSON config-file format (`metald-cli config-gen`), read
// strictly: files the Go client writes load unchanged, and files written here load in the
// Go client. The fields are the component's `vm-config-file` record.
type VMConfigFile struct {
	metald.VmConfigFile
	// err is FromVMConfig's failure, reported by SaveVMConfigToFile and ToVMConfig.
	err error
}

// FromVMConfig converts a config to the file format (name and description as given).
// Memory must be whole MiB, since the format stores MiB; a config that cannot be written
// exactly gives a file whose Err (and SaveVMConfigToFile, ToVMConfig) reports why, where the
// Go client truncated silently (or panicked on a missing section).
func FromVMConfig(config *VMConfig, name, description string) *VMConfigFile {
	f, err := FromVMConfigE(config, name, description)
	if err != nil {
		return &VMConfigFile{err: err}
	}
	return f
}

// FromVMConfigE is FromVMConfig returning its error.
func FromVMConfigE(config *VMConfig, name, description string) (*VMConfigFile, error) {
	if config == nil {
		return nil, invalidConfig("convert config to file", []ValidationIssue{{Field: "config", Message: "is nil"}})
	}
	out := &VMConfigFile{}
	err := offline.do(context.Background(), func(x metald.Exports) error {
		f, err := x.ConfigFileFromVmConfig(context.Background(), *config, name, description)
		out.VmConfigFile = f
		return wrapErr("convert config to file", err)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Err reports why FromVMConfig could not convert its config, or nil.
func (f *VMConfigFile) Err() error { return f.err }

// ParseVMConfigFile parses a config file's JSON. Keys match case-insensitively as in the
// Go client, but an unknown key, a wrong type or an out-of-range number is an error naming
// its path (`network[0].mode`); Issues lists every problem.
func ParseVMConfigFile(data []byte) (*VMConfigFile, error) {
	out := &VMConfigFile{}
	err := offline.do(context.Background(), func(x metald.Exports) error {
		f, err := x.ConfigFileParseConfigFile(context.Background(), string(data))
		out.VmConfigFile = f
		return wrapErr("parse config file", err)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// LoadVMConfigFromFile reads and parses a config file.
func LoadVMConfigFromFile(filename string) (*VMConfigFile, error) {
	data, err := os.ReadFile(filename)
	if err != nil {
		return nil, fmt.Errorf("failed to read config file %s: %w", filename, err)
	}
	f, err := ParseVMConfigFile(data)
	if err != nil {
		return nil, fmt.Errorf("failed to parse config file %s: %w", filename, err)
	}
	return f, nil
}

// Render returns the file as the Go client writes it: fields in format order, 2-space
// indent, map keys sorted, no trailing newline.
func (f *VMConfigFile) Render() ([]byte, error) {
	if f.err != nil {
		return nil, f.err
	}
	var out string
	err := offline.do(context.Background(), func(x metald.Exports) error {
		s, err := x.ConfigFileRenderConfigFile(context.Background(), f.VmConfigFile)
		out = s
		return wrapErr("render config file", err)
	})
	return []byte(out), err
}

// SaveVMConfigToFile writes config to filename as the Go client does: parent directories
// created 0755, the file 0644.
func SaveVMConfigToFile(config *VMConfigFile, filename string) error {
	if config == nil {
		return fmt.Errorf("failed to write config file %s: the config file is nil", filename)
	}
	data, err := config.Render()
	if err != nil {
		return fmt.Errorf("failed to write config file %s: %w", filename, err)
	}
	if err := os.MkdirAll(filepath.Dir(filename), 0o755); err != nil {
		return fmt.Errorf("failed to create the directory of %s: %w", filename, err)
	}
	if err := os.WriteFile(filename, data, 0o644); err != nil {
		return fmt.Errorf("failed to write config file %s: %w", filename, err)
	}
	return nil
}

// ToVMConfig returns the config the file describes, as the Go client builds it: the
// template's (or the builder's) defaults overwritten by every section of the file, with
// metadata config_name and config_description. An unknown template is an error.
func (f *VMConfigFile) ToVMConfig() (*VMConfig, error) {
	if f.err != nil {
		return nil, f.err
	}
	var out VMConfig
	err := offline.do(context.Background(), func(x metald.Exports) error {
		cfg, err := x.ConfigFileToVmConfig(context.Background(), f.VmConfigFile)
		out = cfg
		return wrapErr("convert file to config", err)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}
