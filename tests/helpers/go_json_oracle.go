// Oracle for the JSON fuzz tests: Go's own encoding/json decoding the
// documents soci reads. Reads one base64 document per stdin line and writes
// one JSON line per document: {"ok":true,"out":"<base64>"} with what
// json.Marshal writes for the decoded value, or {"ok":false,"err":"…"}.
//
//	go run go_json_oracle.go manifest|index|dockerconfig
//
// The structs copy the field names, types and json tags of
// opencontainers/image-spec v1.1 (ocispec.Manifest, Index, Descriptor,
// Platform) and of the Docker CLI config file members soci reads.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
)

type Platform struct {
	Architecture string   `json:"architecture"`
	OS           string   `json:"os"`
	OSVersion    string   `json:"os.version,omitempty"`
	OSFeatures   []string `json:"os.features,omitempty"`
	Variant      string   `json:"variant,omitempty"`
}

type Descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	URLs         []string          `json:"urls,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Data         []byte            `json:"data,omitempty"`
	Platform     *Platform         `json:"platform,omitempty"`
	ArtifactType string            `json:"artifactType,omitempty"`
}

type Versioned struct {
	SchemaVersion int `json:"schemaVersion"`
}

type Manifest struct {
	Versioned
	MediaType    string            `json:"mediaType,omitempty"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Config       Descriptor        `json:"config"`
	Layers       []Descriptor      `json:"layers"`
	Subject      *Descriptor       `json:"subject,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

type Index struct {
	Versioned
	MediaType    string            `json:"mediaType,omitempty"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Manifests    []Descriptor      `json:"manifests"`
	Subject      *Descriptor       `json:"subject,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

type AuthConfig struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

type ConfigFile struct {
	Auths       map[string]AuthConfig `json:"auths"`
	CredsStore  string                `json:"credsStore"`
	CredHelpers map[string]string     `json:"credHelpers"`
}

type result struct {
	Ok  bool   `json:"ok"`
	Out string `json:"out,omitempty"`
	Err string `json:"err,omitempty"`
}

func decode(mode string, doc []byte) ([]byte, error) {
	var v interface{}
	switch mode {
	case "manifest":
		v = &Manifest{}
	case "index":
		v = &Index{}
	case "dockerconfig":
		v = &ConfigFile{}
	default:
		return nil, fmt.Errorf("unknown mode %q", mode)
	}
	if err := json.Unmarshal(doc, v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go_json_oracle manifest|index|dockerconfig")
		os.Exit(2)
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	for in.Scan() {
		doc, err := base64.StdEncoding.DecodeString(in.Text())
		if err != nil {
			fmt.Fprintln(os.Stderr, "bad input line:", err)
			os.Exit(2)
		}
		var r result
		if b, err := decode(os.Args[1], doc); err != nil {
			r.Err = err.Error()
		} else {
			r.Ok = true
			r.Out = base64.StdEncoding.EncodeToString(b)
		}
		if err := enc.Encode(r); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out.Flush()
}
