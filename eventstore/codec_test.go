package eventstore_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/shoal-dev/shoal/eventstore"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

func TestCodecNames(t *testing.T) {
	require.Equal(t, "msgpack", eventstore.Msgpack().Name())
	require.Equal(t, "json", eventstore.JSON().Name())
	e := newEnv(t, "memory")
	require.Equal(t, "msgpack", e.store().Codec().Name(), "the default")
	require.Equal(t, "json", e.store(eventstore.WithCodec(eventstore.JSON())).Codec().Name())
}

// tagged has every kind of tag the msgpack codec must read.
type tagged struct {
	Renamed string `json:"renamed_field"`
	Both    string `json:"json_name" msgpack:"mp_name"`
	Skipped string `json:"-"`
	Omit    string `json:"omit,omitempty"`
	Plain   int
}

func TestMsgpackHonoursJSONTags(t *testing.T) {
	c := eventstore.Msgpack()
	in := tagged{Renamed: "r", Both: "b", Skipped: "s", Plain: 7}
	b, err := c.Marshal(in)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, msgpack.Unmarshal(b, &m), "structs are maps keyed by field name")
	require.Equal(t, map[string]any{"renamed_field": "r", "mp_name": "b", "Plain": int8(7)}, m)
	var out tagged
	require.NoError(t, c.Unmarshal(b, &out))
	require.Equal(t, tagged{Renamed: "r", Both: "b", Plain: 7}, out)

	in.Omit = "o"
	b, err = c.Marshal(in)
	require.NoError(t, err)
	m = nil
	require.NoError(t, msgpack.Unmarshal(b, &m))
	require.Equal(t, "o", m["omit"])

	// The same names as encoding/json (but for the msgpack tag).
	j, err := eventstore.JSON().Marshal(in)
	require.NoError(t, err)
	require.JSONEq(t, `{"renamed_field":"r","json_name":"b","omit":"o","Plain":7}`, string(j))
}

// evolved is acct.deposited with a field added and one removed.
type evolved struct {
	Amount   int    `json:"amount"`
	Currency string `json:"currency"`
}

// TestCodecSwitch writes events with one codec, reopens the store with the
// other, and reads both.
func TestCodecSwitch(t *testing.T) {
	eachEngine(t, func(t *testing.T, kind string) {
		for _, order := range [][2]eventstore.Codec{{eventstore.Msgpack(), eventstore.JSON()}, {eventstore.JSON(), eventstore.Msgpack()}} {
			first, second := order[0], order[1]
			t.Run(first.Name()+" then "+second.Name(), func(t *testing.T) {
				e := newEnv(t, kind)
				ctx := e.ctx
				id := "acct-" + first.Name()
				s := e.store(eventstore.WithCodec(first))
				_, err := s.Append(ctx, id, eventstore.NoStream, opened{Owner: "ann", Limit: 5}, deposited{Amount: 10, Note: "n"})
				require.NoError(t, err)

				e.reopenLog()
				s = e.store(eventstore.WithCodec(second))
				_, err = s.Append(ctx, id, eventstore.Exact(2), withdrawn{Amount: 4}, deposited{Amount: 1})
				require.NoError(t, err)
				want := []any{opened{Owner: "ann", Limit: 5}, deposited{Amount: 10, Note: "n"}, withdrawn{Amount: 4}, deposited{Amount: 1}}
				codecs := []eventstore.Codec{first, first, second, second}

				e.reopenLog()
				for _, c := range []eventstore.Codec{first, second} {
					s := e.store(eventstore.WithCodec(c))
					evs := mustReadAll(t, s.Read(ctx, id, 0))
					require.Len(t, evs, 4)
					for i, ev := range evs {
						d, err := ev.Data()
						require.NoError(t, err, "v%d read by %s", ev.Version, c.Name())
						require.Equal(t, want[i], d)
						// The payload is in the codec it was written with.
						var m map[string]any
						if codecs[i].Name() == "json" {
							require.NoError(t, json.Unmarshal(ev.Payload(), &m), "v%d", ev.Version)
						} else {
							require.NoError(t, msgpack.Unmarshal(ev.Payload(), &m), "v%d", ev.Version)
						}
						require.Contains(t, m, map[string]string{"acct.opened": "owner", "acct.deposited": "amount", "acct.withdrawn": "amount"}[ev.Type])
					}
				}

				// A reader whose type gained and lost fields reads both.
				reg := eventstore.NewRegistry()
				require.NoError(t, eventstore.Register[evolved](reg, "acct.deposited"))
				s = e.store(eventstore.WithRegistry(reg))
				evs := mustReadAll(t, s.Read(ctx, id, 0))
				for _, i := range []int{1, 3} {
					d, err := eventstore.DataAs[evolved](&evs[i])
					require.NoError(t, err, "v%d", evs[i].Version)
					require.Equal(t, evolved{Amount: want[i].(deposited).Amount}, d)
				}
			})
		}
	})
}

// prefixCodec is a custom codec: JSON behind a marker.
type prefixCodec struct{}

var errNoMarker = errors.New("no marker")

func (prefixCodec) Name() string { return "prefixed" }
func (prefixCodec) Marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return append([]byte("P:"), b...), err
}
func (prefixCodec) Unmarshal(data []byte, v any) error {
	rest, ok := bytes.CutPrefix(data, []byte("P:"))
	if !ok {
		return errNoMarker
	}
	return json.Unmarshal(rest, v)
}

func TestCustomCodec(t *testing.T) {
	e := newEnv(t, "memory")
	ctx := e.ctx
	s := e.store(eventstore.WithCodec(prefixCodec{}))
	require.Equal(t, "prefixed", s.Codec().Name())
	_, err := s.Append(ctx, "c", eventstore.NoStream, deposited{Amount: 3})
	require.NoError(t, err)
	ev, err := s.Last(ctx, "c")
	require.NoError(t, err)
	require.Equal(t, `P:{"amount":3}`, string(ev.Payload()))
	d, err := eventstore.DataAs[deposited](&ev)
	require.NoError(t, err)
	require.Equal(t, deposited{Amount: 3}, d)

	// Built-in codecs stay readable after a switch to a custom one.
	_, err = e.store().Append(ctx, "c", eventstore.Exact(1), deposited{Amount: 4})
	require.NoError(t, err)
	evs := mustReadAll(t, s.Read(ctx, "c", 0))
	d, err = eventstore.DataAs[deposited](&evs[1])
	require.NoError(t, err)
	require.Equal(t, deposited{Amount: 4}, d)

	// A custom codec's events are read with the store's own codec.
	ev, err = e.store().Last(ctx, "c")
	require.NoError(t, err)
	require.Equal(t, uint64(2), ev.Version)
	evs = mustReadAll(t, e.store().Read(ctx, "c", 0))
	_, err = evs[0].Data()
	require.Error(t, err, "a msgpack store cannot read a custom codec's bytes")
}
