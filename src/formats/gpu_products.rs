//! GPU product names, normalised: nvidia-smi ("NVIDIA H100 80GB HBM3"), GPU Feature Discovery
//! labels ("NVIDIA-H100-80GB-HBM3") and fleet files ("H100-SXM5-80GB") name one product in
//! different ways; fleetfit keeps one canonical type per product so that `gpu_types` and SKUs
//! match whatever the fleet was imported from.

/// Canonical type and the spellings that mean it, compared after [`key`].
const PRODUCTS: &[(&str, &[&str])] = &[
    (
        "H100-SXM5-80GB",
        &["H100-80GB-HBM3", "H100-SXM5-80GB", "H100-SXM", "H100-SXM5"],
    ),
    ("H100-PCIE-80GB", &["H100-PCIE", "H100-PCIE-80GB", "H100-80GB-PCIE"]),
    ("H100-NVL-94GB", &["H100-NVL", "H100-NVL-94GB"]),
    (
        "H200-SXM-141GB",
        &["H200", "H200-SXM", "H200-SXM-141GB", "H200-141GB-HBM3E"],
    ),
    ("H200-NVL-141GB", &["H200-NVL", "H200-NVL-141GB"]),
    ("B200-180GB", &["B200", "B200-180GB"]),
    ("GH200-96GB", &["GH200-480GB", "GH200-96GB", "GH200"]),
    ("A100-SXM4-80GB", &["A100-SXM4-80GB", "A100-80GB-SXM4", "A100-SXM-80GB"]),
    ("A100-SXM4-40GB", &["A100-SXM4-40GB", "A100-40GB-SXM4", "A100-SXM-40GB"]),
    ("A100-PCIE-80GB", &["A100-80GB-PCIE", "A100-PCIE-80GB"]),
    ("A100-PCIE-40GB", &["A100-PCIE-40GB", "A100-40GB-PCIE"]),
    ("L40S", &["L40S"]),
    ("L40", &["L40"]),
    ("L4", &["L4"]),
    ("A40", &["A40"]),
    ("A10G", &["A10G"]),
    ("A10", &["A10"]),
    ("T4", &["TESLA-T4", "T4"]),
    ("V100-SXM2-32GB", &["TESLA-V100-SXM2-32GB", "V100-SXM2-32GB"]),
    ("V100-SXM2-16GB", &["TESLA-V100-SXM2-16GB", "V100-SXM2-16GB"]),
    ("RTX-6000-ADA", &["RTX-6000-ADA-GENERATION", "RTX-6000-ADA"]),
];

/// A spelling reduced for comparison: upper case, words joined by `-`, no vendor prefix.
fn key(name: &str) -> String {
    let upper = name.trim().to_ascii_uppercase().replace(['_', ' '], "-");
    let mut words: Vec<&str> = upper.split('-').filter(|w| !w.is_empty()).collect();
    if words.first() == Some(&"NVIDIA") {
        words.remove(0);
    }
    words.join("-")
}

/// The canonical type of a product name, or `None` for a product not in the table.
pub fn canonical(name: &str) -> Option<&'static str> {
    let k = key(name);
    PRODUCTS
        .iter()
        .find(|(_, spellings)| spellings.iter().any(|s| key(s) == k))
        .map(|(canonical, _)| *canonical)
}

/// The type a fleet gets for a product name: the canonical one, or the name as given (trimmed)
/// with `false` when the product is unknown.
pub fn normalise(name: &str) -> (String, bool) {
    match canonical(name) {
        Some(c) => (c.to_string(), true),
        None => (name.trim().to_string(), false),
    }
}

/// Driver-reserved memory measured on a product at a given `memory.total`, for sources that do
/// not report it (GPU Feature Discovery's labels): H100 SXM5 80GB reports 81,559 MiB of which CUDA
/// sees 79.19 GiB (469 MiB reserved); the H200 capture in `data/captures/h200/` shows 616 MiB of
/// 143,771. Products not measured get 0, and the importer says so.
const MEASURED_RESERVED_MIB: &[(&str, u64, u64)] = &[("H100-SXM5-80GB", 81_559, 469), ("H200-SXM-141GB", 143_771, 616)];

/// The driver's reserve measured for a canonical type at this total memory, if any.
pub fn measured_reserved_mib(canonical_type: &str, memory_mib: u64) -> Option<u64> {
    MEASURED_RESERVED_MIB
        .iter()
        .find(|(t, total, _)| *t == canonical_type && *total == memory_mib)
        .map(|(_, _, reserved)| *reserved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_product_three_spellings() {
        for name in ["NVIDIA H100 80GB HBM3", "NVIDIA-H100-80GB-HBM3", "H100-SXM5-80GB"] {
            assert_eq!(canonical(name), Some("H100-SXM5-80GB"), "{name}");
        }
        assert_eq!(canonical("NVIDIA H200"), Some("H200-SXM-141GB"));
        assert_eq!(canonical("Tesla T4"), Some("T4"));
        assert_eq!(canonical("NVIDIA A100-SXM4-40GB-MIG-1g.5gb"), None);
        assert_eq!(normalise(" Mystery GPU "), ("Mystery GPU".to_string(), false));
    }
}
