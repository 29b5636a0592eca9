package delivery

import "io"

// Raw is the format that stores records' data as it is, concatenated
// with no delimiter, as Firehose does: producers that want lines add the
// newline themselves. Its Name is "raw" and its Extension "".
func Raw() Format { return rawFormat{} }

type rawFormat struct{}

// Name is "raw".
func (rawFormat) Name() string { return "raw" }

// Extension is "": raw objects have only the compression's extension.
func (rawFormat) Extension() string { return "" }

// Encode writes the records' data one after another.
func (rawFormat) Encode(w io.Writer, b *Batch) error {
	if err := checkEncode(w, b); err != nil {
		return err
	}
	for _, r := range b.Records {
		if _, err := w.Write(r.Data); err != nil {
			return err
		}
	}
	return nil
}
