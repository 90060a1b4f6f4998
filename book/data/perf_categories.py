#!/usr/bin/env python3
"""Group a `perf report --sort symbol` of `fhe infer` into the primitives of the
performance chapter (NTT, plaintext encoding, basis conversion, key-switch inner
product, element-wise, allocation and page zeroing, other).

    perf record -k CLOCK_MONOTONIC -F 199 -o perf.data -- target/release/fhe infer
    perf report -i perf.data --time START,END --no-children --sort symbol --stdio \
        --percent-limit 0 | python3 book/data/perf_categories.py

START,END: the inference's window (perf's monotonic clock; timestamp fhe's stderr).
"""
import re
import sys

CATEGORIES = [
    ("NTT / inverse NTT", r"fntt::|pulp::|tfhe_ntt"),
    ("plaintext encoding (FFT, rounding, residues)",
     r"encode_inner|values_to_coeffs|encode_diag|coeffs_to_plaintext|fft_special|\bround\b"),
    ("basis conversion (ModUp/ModDown)", r"conv_row|conv_fixed|base_conv|Tail::prepare|finish_rescaled|Decomp::prepare"),
    ("key-switch inner product", r"inner_row|inner_fixed|raised_inner"),
    ("plaintext-ciphertext products (sum of products)", r"sum_products|mul_add_terms"),
    ("element-wise (add, scalar, multiply)", r"par_words|sub_mul_const|mul_assign|add_assign|mul_scalar|neg_assign"),
    ("allocation, zeroing, copies, page faults",
     r"memset|memmove|memcpy|clear_page|page_fault|_int_malloc|_int_free|malloc|free|do_anonymous_page|__handle_mm_fault|get_page_from_freelist"),
]

totals = {name: 0.0 for name, _ in CATEGORIES}
other = 0.0
top_other = []
for line in sys.stdin:
    m = re.match(r"\s*([\d.]+)%\s+\[[.k]\]\s+(.*\S)", line)
    if not m:
        continue
    pct, sym = float(m.group(1)), re.sub(r"(\s+-)+\s*$", "", m.group(2))
    for name, pat in CATEGORIES:
        if re.search(pat, sym):
            totals[name] += pct
            break
    else:
        other += pct
        top_other.append((pct, sym))
for name, _ in CATEGORIES:
    print(f"{totals[name]:6.1f} %  {name}")
print(f"{other:6.1f} %  other (largest: {', '.join(s for _, s in sorted(top_other, reverse=True)[:3])})")
