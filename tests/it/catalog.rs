//! The embedded catalog: real models, exact numbers, names that resolve.

use fleetfit::catalog::Catalog;
use fleetfit::formats::hf_config;

use super::common::data;

#[test]
fn the_catalog_has_the_models_operators_ask_for() {
    let catalog = Catalog::builtin();
    assert!(catalog.entries().len() >= 30, "{} models", catalog.entries().len());
    for id in [
        "llama-3.1-8b",
        "llama-3.1-70b",
        "llama-3.1-405b",
        "mixtral-8x7b-v0.1",
        "mixtral-8x22b-v0.1",
        "qwen2.5-0.5b",
        "qwen2.5-72b",
        "qwen3-8b",
        "qwen3-30b-a3b",
        "deepseek-v3",
        "gemma-2-9b",
        "phi-4",
        "falcon-7b",
        "gpt-oss-120b",
        "mistral-7b-v0.1",
    ] {
        assert!(catalog.find(id).is_some(), "{id} missing");
    }
}

#[test]
fn published_parameter_counts_are_exact() {
    let catalog = Catalog::builtin();
    for (id, params) in [
        ("llama-3.1-8b", 8_030_261_248u64),
        ("llama-3.1-70b", 70_553_706_496),
        ("llama-3.1-405b", 405_853_388_800),
        ("llama-2-7b-hf", 6_738_415_616),
        ("mistral-7b-v0.1", 7_241_732_096),
        ("mixtral-8x7b-v0.1", 46_702_792_704),
        ("qwen2.5-7b", 7_615_616_512),
        ("qwen2.5-72b", 72_706_203_648),
        ("deepseek-v3", 671_026_419_200),
    ] {
        assert_eq!(catalog.find(id).unwrap().model.params, params, "{id}");
    }
    let v3 = &catalog.find("deepseek-v3").unwrap().model;
    let mla = v3.mla.expect("DeepSeek-V3 uses latent attention");
    assert_eq!((mla.kv_lora_rank, mla.qk_rope_head_dim), (512, 64));
}

#[test]
fn repository_ids_and_instruct_variants_resolve() {
    let catalog = Catalog::builtin();
    for name in [
        "meta-llama/Llama-3.1-8B",
        "meta-llama/Llama-3.1-8B-Instruct",
        "LLAMA-3.1-8B",
        "llama-3.1-8b-instruct",
    ] {
        assert_eq!(
            catalog.find(name).map(|e| e.model.id.as_str()),
            Some("llama-3.1-8b"),
            "{name}"
        );
    }
    assert_eq!(
        catalog.find("Qwen/Qwen2.5-72B-Instruct").map(|e| e.model.id.as_str()),
        Some("qwen2.5-72b")
    );
    assert!(catalog.find("llama-9").is_none());
}

#[test]
fn config_json_gives_the_catalog_numbers() {
    // Parameters counted from the architecture, MoE experts and latent attention included.
    let catalog = Catalog::builtin();
    for id in [
        "llama-3.1-8b",
        "qwen2.5-7b",
        "mixtral-8x7b-v0.1",
        "qwen3-30b-a3b",
        "deepseek-v3",
        "gemma-2-9b",
    ] {
        let from_config = hf_config::load(&data(&format!("hf/{id}/config.json"))).unwrap();
        let entry = &catalog.find(id).unwrap().model;
        assert_eq!(from_config.params, entry.params, "{id} params");
        assert_eq!(
            (
                from_config.layers,
                from_config.heads,
                from_config.kv_heads,
                from_config.hidden_size,
                from_config.mla
            ),
            (entry.layers, entry.heads, entry.kv_heads, entry.hidden_size, entry.mla),
            "{id} architecture"
        );
        if entry.mla.is_none() {
            assert_eq!(from_config.head_dim, entry.head_dim, "{id} head_dim");
        }
    }
}

#[test]
fn a_file_that_is_not_a_config_json_is_rejected() {
    let err = hf_config::load(&data("demo/fleet.yaml")).unwrap_err();
    assert!(err.to_string().contains("not a Hugging Face config.json"), "{err}");
    let (_d, path) = super::common::temp_file("config.json", r#"{"model_type": "llama", "hidden_size": 4096}"#);
    let err = hf_config::load(&path).unwrap_err();
    assert!(err.to_string().contains("num_hidden_layers"), "{err}");
}

#[test]
fn unknown_model_names_get_hints_by_edit_distance() {
    let catalog = Catalog::builtin();
    assert_eq!(catalog.similar("qwen-2.5-7b")[0], "qwen2.5-7b");
    assert_eq!(catalog.similar("gemma2-9b")[0], "gemma-2-9b");
    assert_eq!(catalog.similar("meta-llama/Llama-3.1-8B-Instrut")[0], "llama-3.1-8b");
    assert_eq!(catalog.similar("mistral-7b"), ["mistral-7b-v0.1", "mistral-7b-v0.3"]);
    assert!(catalog.similar("totally-unrelated-name").is_empty());
}
