package projection

import "testing"

func TestFairShare(t *testing.T) {
	owners := []string{"a", "b", "c"}
	for _, c := range []struct {
		ready int
		want  []int
	}{{4, []int{2, 1, 1}}, {8, []int{3, 3, 2}}, {3, []int{1, 1, 1}}, {2, []int{1, 1, 0}}, {0, []int{0, 0, 0}}} {
		sum := 0
		for i, o := range owners {
			got := FairShare(c.ready, owners, o)
			sum += got
			if got != c.want[i] {
				t.Errorf("FairShare(%d, %v, %s) = %d, want %d", c.ready, owners, o, got, c.want[i])
			}
		}
		if sum != c.ready {
			t.Errorf("shares of %d add up to %d", c.ready, sum)
		}
	}
}
