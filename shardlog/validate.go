package shardlog

func validateStreamName(field, name string) error {
	if n := len(name); n < 1 || n > MaxStreamNameLength {
		return invalid(field, "length %d is outside 1-%d", n, MaxStreamNameLength)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return invalid(field, "%q must match [a-zA-Z0-9_.-]+", truncate(name, 64))
		}
	}
	return nil
}

// validPartitionKey is the fast check of the put path: a key of at most
// 256 bytes has at most 256 code points, so only longer keys are counted.
func validPartitionKey(key string) bool {
	return key != "" && (len(key) <= MaxPartitionKeyLength || partitionKeyLen(key) <= MaxPartitionKeyLength)
}

func validatePartitionKey(field, key string) error {
	if n := partitionKeyLen(key); n < 1 || n > MaxPartitionKeyLength {
		return invalid(field, "length %d is outside 1-%d characters", n, MaxPartitionKeyLength)
	}
	return nil
}

func validateConsumerName(field, name string) error {
	// Consumer names share the stream-name pattern.
	return validateStreamName(field, name)
}
