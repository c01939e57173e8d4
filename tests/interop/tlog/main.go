// Command govex-tlog-interop checks a live govex audit log with transparency-dev's Go code.
//
// It fetches /log/checkpoint and the C2SP tlog-tiles of the log, and checks:
//
//   - checkpoint: the signed note verifies under the log's vkey (formats/log.ParseCheckpoint);
//   - tiles: every tile read is checked against the checkpoint's root by
//     golang.org/x/mod/sumdb/tlog.TileHashReader;
//   - entries: each entry of the first entry bundle hashes to its level-0 tile hash;
//   - inclusion: proofs built from tiles (tlog.ProveRecord) verify with tlog.CheckRecord
//     and transparency-dev/merkle's proof.VerifyInclusion;
//   - consistency: from an earlier checkpoint (-old) with tlog.CheckTree and
//     proof.VerifyConsistency;
//   - cosignature: a tlog-cosignature/v1 line by the witness (-witness-vkey) verifies
//     (formats/note.NewVerifierForCosignatureV1);
//   - cosign: with -cosign-skey it cosigns the checkpoint itself
//     (formats/note.NewSignerForCosignatureV1) and writes the note to -out.
//
// Each check prints one JSON line; the last line counts checks and failures. The exit
// status is 1 when any check failed. -flip <tile path> flips a byte of that tile after
// fetching it, to show that a broken tile is caught.
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type checker struct {
	checks, failures int
}

func (c *checker) record(name string, err error, detail string) bool {
	c.checks++
	line := map[string]any{"check": name, "ok": err == nil, "detail": detail}
	if err != nil {
		c.failures++
		line["error"] = err.Error()
	}
	out, _ := json.Marshal(line)
	fmt.Println(string(out))
	return err == nil
}

type client struct {
	base, token, flip string
	http              *http.Client
	fetched           int
}

func (c *client) get(path string, auth bool) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, c.base+"/log/"+path, nil)
	if err != nil {
		return nil, err
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /log/%s: HTTP %d: %s", path, resp.StatusCode, body)
	}
	c.fetched++
	if path == c.flip && len(body) > 0 {
		body[len(body)/2] ^= 1
	}
	return body, nil
}

// indexPath encodes a tile index as C2SP tlog-tiles says: x001/x234/067.
func indexPath(n int64) string {
	s := fmt.Sprintf("%d", n)
	for len(s)%3 != 0 {
		s = "0" + s
	}
	var parts []string
	for i := 0; i < len(s); i += 3 {
		parts = append(parts, s[i:i+3])
	}
	for i := 0; i < len(parts)-1; i++ {
		parts[i] = "x" + parts[i]
	}
	return strings.Join(parts, "/")
}

func tilePath(t tlog.Tile) string {
	level := fmt.Sprintf("%d", t.L)
	if t.L < 0 {
		level = "entries"
	}
	p := fmt.Sprintf("tile/%s/%s", level, indexPath(t.N))
	if t.W < 1<<t.H {
		p += fmt.Sprintf(".p/%d", t.W)
	}
	return p
}

// tileReader serves tlog's tile reads from the C2SP paths of the live exchange.
type tileReader struct{ c *client }

func (r tileReader) Height() int { return 8 }

func (r tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		data, err := r.c.get(tilePath(t), false)
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (r tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

func fetchCheckpoint(c *client) ([]byte, error) {
	return c.get("checkpoint", false)
}

func parseBundle(data []byte) ([][]byte, error) {
	var entries [][]byte
	for len(data) > 0 {
		if len(data) < 2 {
			return nil, errors.New("bundle ends inside a length")
		}
		n := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+n {
			return nil, errors.New("bundle ends inside an entry")
		}
		entries = append(entries, data[2:2+n])
		data = data[2+n:]
	}
	return entries, nil
}

func run() int {
	base := flag.String("url", "", "the exchange's base URL")
	vkey := flag.String("vkey", "", "the log's note verifier key")
	origin := flag.String("origin", "", "the log's checkpoint origin")
	token := flag.String("token", "", "an auditor's access token (entry bundles)")
	oldPath := flag.String("old", "", "a file with an earlier checkpoint of the log")
	witnessVkey := flag.String("witness-vkey", "", "vkey of a witness whose cosignature must verify")
	cosignSkey := flag.String("cosign-skey", "", "file with a cosigner key: cosign the checkpoint")
	outPath := flag.String("out", "", "where to write the checkpoint cosigned with -cosign-skey")
	flip := flag.String("flip", "", "flip a byte of this tile path after fetching it")
	flag.Parse()

	c := &client{base: strings.TrimRight(*base, "/"), token: *token, flip: *flip,
		http: &http.Client{Timeout: 30 * time.Second}}
	ck := &checker{}
	defer func() {
		out, _ := json.Marshal(map[string]int{"checks": ck.checks, "failures": ck.failures,
			"fetched": c.fetched})
		fmt.Println(string(out))
	}()

	verifier, err := note.NewVerifier(*vkey)
	if !ck.record("log key", err, *vkey) {
		return 1
	}
	raw, err := fetchCheckpoint(c)
	if !ck.record("fetch checkpoint", err, "") {
		return 1
	}
	cp, _, _, err := log.ParseCheckpoint(raw, *origin, verifier)
	if !ck.record("checkpoint", err, "") {
		return 1
	}
	tree := tlog.Tree{N: int64(cp.Size), Hash: tlog.Hash(cp.Hash)}
	hashes := tlog.TileHashReader(tree, tileReader{c})
	hasher := rfc6962.DefaultHasher

	// entries and inclusion: the first entry bundle, proven against the checkpoint
	width := int64(256)
	if tree.N < width {
		width = tree.N
	}
	bundle, err := c.get(tilePath(tlog.Tile{H: 8, L: -1, N: 0, W: int(width)}), true)
	entries := [][]byte{}
	if err == nil {
		entries, err = parseBundle(bundle)
	}
	if err == nil && int64(len(entries)) != width {
		err = fmt.Errorf("bundle holds %d entries, not %d", len(entries), width)
	}
	ck.record("entry bundle", err, fmt.Sprintf("%d entries", len(entries)))
	for _, index := range []int64{0, width / 2, width - 1} {
		if index >= int64(len(entries)) {
			continue
		}
		leaf := hasher.HashLeaf(entries[index])
		err := func() error {
			stored, err := hashes.ReadHashes([]int64{tlog.StoredHashIndex(0, index)})
			if err != nil {
				return err
			}
			if !bytes.Equal(stored[0][:], leaf) {
				return fmt.Errorf("entry %d does not hash to its tile hash", index)
			}
			p, err := tlog.ProveRecord(tree.N, index, hashes)
			if err != nil {
				return err
			}
			if err := tlog.CheckRecord(p, tree.N, tree.Hash, index, tlog.Hash(leaf)); err != nil {
				return err
			}
			path := make([][]byte, len(p))
			for i := range p {
				path[i] = p[i][:]
			}
			return proof.VerifyInclusion(hasher, uint64(index), cp.Size, leaf, path, cp.Hash)
		}()
		ck.record("inclusion", err, fmt.Sprintf("entry %d in tree %d", index, tree.N))
	}
	// an entry near the end, from the tiles alone
	if tree.N > 1 {
		index := tree.N - 2
		err := func() error {
			stored, err := hashes.ReadHashes([]int64{tlog.StoredHashIndex(0, index)})
			if err != nil {
				return err
			}
			p, err := tlog.ProveRecord(tree.N, index, hashes)
			if err != nil {
				return err
			}
			return tlog.CheckRecord(p, tree.N, tree.Hash, index, stored[0])
		}()
		ck.record("inclusion", err, fmt.Sprintf("entry %d in tree %d", index, tree.N))
	}

	if *oldPath != "" {
		err := func() error {
			oldRaw, err := os.ReadFile(*oldPath)
			if err != nil {
				return err
			}
			old, _, _, err := log.ParseCheckpoint(oldRaw, *origin, verifier)
			if err != nil {
				return err
			}
			p, err := tlog.ProveTree(tree.N, int64(old.Size), hashes)
			if err != nil {
				return err
			}
			if err := tlog.CheckTree(p, tree.N, tree.Hash, int64(old.Size), tlog.Hash(old.Hash)); err != nil {
				return err
			}
			path := make([][]byte, len(p))
			for i := range p {
				path[i] = p[i][:]
			}
			return proof.VerifyConsistency(hasher, old.Size, cp.Size, path, old.Hash, cp.Hash)
		}()
		ck.record("consistency", err, "from the earlier checkpoint")
	}

	if *witnessVkey != "" {
		err := func() error {
			w, err := fnote.NewVerifierForCosignatureV1(*witnessVkey)
			if err != nil {
				return err
			}
			_, _, n, err := log.ParseCheckpoint(raw, *origin, verifier, w)
			if err != nil {
				return err
			}
			for _, s := range n.Sigs {
				if s.Name == w.Name() && s.Hash == w.KeyHash() {
					when, err := fnote.CoSigV1Timestamp(s)
					if err != nil {
						return err
					}
					if time.Since(when) > 24*time.Hour || time.Until(when) > time.Minute {
						return fmt.Errorf("cosignature time %s is not recent", when)
					}
					return nil
				}
			}
			return fmt.Errorf("no cosignature by %s", w.Name())
		}()
		ck.record("cosignature", err, *witnessVkey)
	}

	if *cosignSkey != "" {
		err := func() error {
			skey, err := os.ReadFile(*cosignSkey)
			if err != nil {
				return err
			}
			signer, err := fnote.NewSignerForCosignatureV1(strings.TrimSpace(string(skey)))
			if err != nil {
				return err
			}
			n, err := note.Open(raw, note.VerifierList(verifier))
			if err != nil {
				return err
			}
			signed, err := note.Sign(n, signer)
			if err != nil {
				return err
			}
			if _, _, _, err := log.ParseCheckpoint(signed, *origin, verifier, signer.Verifier()); err != nil {
				return err
			}
			return os.WriteFile(*outPath, signed, 0o644)
		}()
		ck.record("cosign", err, *outPath)
	}
	if ck.failures > 0 {
		return 1
	}
	return 0
}

func main() {
	os.Exit(run())
}
