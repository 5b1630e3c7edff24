//! Policy kinds by name: the [`PolicyConfig`] trait a kind of policy implements (its YAML
//! configuration, label, the settings it names, its checks and its construction), [`PolicySpec`] (one
//! policy as written in a scenario, of any registered kind) and [`PolicyRegistry`] (the kinds a
//! scenario may name: the built-ins, plus a user's own through [`PolicyRegistry::with`]).
//!
//! A policy is written as a one-key map naming its kind, the value its configuration:
//! `greedy_slack: { safety: 0.9 }`. The built-in kinds are read with the YAML parser's own positions
//! (an error points at the offending field); a kind registered by a user is read through a YAML value,
//! so its errors point at the policy and name its kind and field.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use serde::de::{DeserializeOwned, Error as _, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use super::forecast::LoadForecast;
use super::{ModelOption, Policy};
use crate::workload::{process_rng, StreamSpec};

/// A kind of policy: its configuration as written in YAML (`Self`, read with serde; use
/// `#[serde(deny_unknown_fields)]`), and everything the simulator needs to know about it.
///
/// Register it with [`PolicyRegistry::with`]; scenarios and studies then name it by [`Self::NAME`].
/// Construction ([`Self::build`]) sees only what the runner provides in a [`PolicyContext`] — the
/// stream's description, the model's options and, if asked for, a load forecast — never the
/// simulated world or the network.
pub trait PolicyConfig: DeserializeOwned + fmt::Debug + PartialEq + Send + Sync + 'static {
    /// The key that names this kind in YAML (`greedy_slack`); letters, digits and `_`.
    const NAME: &'static str;
    /// How it is written, for error messages that list the kinds: `` `greedy_slack: { safety: <0..1> }` ``.
    const SYNTAX: &'static str;

    /// Checks the configuration on its own (ranges, consistency).
    ///
    /// # Errors
    /// What is wrong and what is allowed, naming the field (the kind's name is prefixed).
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }

    /// Checks the configuration against the stream it steers (e.g. a threshold the stream can never
    /// reach).
    ///
    /// # Errors
    /// What is wrong and what is allowed.
    fn check_stream(&self, _stream: &StreamSpec) -> Result<(), String> {
        Ok(())
    }

    /// Short label: the run's output folder and the `policy` column of tables (`greedy_slack`,
    /// `static-gru-128`). Two policies of one stream must not share a label.
    fn label(&self) -> String;

    /// The model settings the configuration names by name (checked against the stream's model before
    /// the run; a continuous form such as `thr-64-1e-3@thr=0.63` is added to the model).
    fn settings(&self) -> Vec<&str> {
        Vec::new()
    }

    /// The step at which the policy wants the model's whole knob range sampled as extra settings
    /// (ThrRNN `thr`, SkipW `thr` at every `K`), if any.
    fn knob_step(&self) -> Option<f32> {
        None
    }

    /// Forecast passes the policy needs before its run (0: none). With `n > 0` the runner first runs
    /// the same world (same seed) `n` times — the first with this stream at its cheapest setting,
    /// later ones with the policy itself — and hands the last pass's [`LoadForecast`] to
    /// [`Self::build`] through [`PolicyContext::forecast`].
    fn forecast_passes(&self) -> usize {
        0
    }

    /// Builds the policy for one run of one stream.
    ///
    /// # Errors
    /// [`PolicyError`], e.g. a setting it did not declare in [`Self::settings`].
    fn build(&self, context: &PolicyContext<'_>) -> Result<Box<dyn Policy>, PolicyError>;
}

/// Why a policy could not be read or built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The configuration is invalid (fatal for the scenario).
    #[error("{policy}: {message}")]
    Invalid {
        /// The policy's kind.
        policy: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A setting the policy names is not one of the stream's model (fatal; [`crate::runner::plan_runs`]
    /// reports it first, located in the scenario file).
    #[error("{policy}: `{setting}` is not a setting of the stream's model")]
    UnknownSetting {
        /// The policy's kind.
        policy: String,
        /// The setting it names.
        setting: String,
    },
    /// [`PolicyContext::setting`] was asked for a setting the policy did not name in
    /// [`PolicyConfig::settings`] (a defect of the policy's code; fatal).
    #[error("{policy}: asked for setting `{setting}`, which its configuration does not name (it names: {named})")]
    UndeclaredSetting {
        /// The policy's kind.
        policy: String,
        /// The setting asked for.
        setting: String,
        /// The settings it named, comma-separated.
        named: String,
    },
}

/// What a policy's construction may know: the stream it steers and its model's options, the run's
/// seed, the model ranking and, for a policy that asked for forecast passes, the load forecast.
#[derive(Debug, Clone)]
pub struct PolicyContext<'a> {
    policy: &'static str,
    stream: &'a StreamSpec,
    seed: u64,
    options: &'a [ModelOption],
    ranking: &'a [usize],
    named: Vec<(String, usize)>,
    forecast: Option<Arc<LoadForecast>>,
}

impl<'a> PolicyContext<'a> {
    /// A context for building a policy of kind `policy` (its [`PolicyConfig::NAME`]): `named` maps
    /// each setting name the policy named to its option index; `ranking` lists option indices, the
    /// most accurate first.
    pub(crate) fn new(
        policy: &'static str,
        stream: &'a StreamSpec,
        seed: u64,
        options: &'a [ModelOption],
        ranking: &'a [usize],
        named: Vec<(String, usize)>,
        forecast: Option<Arc<LoadForecast>>,
    ) -> PolicyContext<'a> {
        PolicyContext { policy, stream, seed, options, ranking, named, forecast }
    }

    /// The stream the policy steers (period, deadline, `on_miss`, …).
    pub fn stream(&self) -> &StreamSpec {
        self.stream
    }

    /// The run's seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The options `choose` will be given, in the same order.
    pub fn options(&self) -> &[ModelOption] {
        self.options
    }

    /// Option indices, the most accurate first: by the card's validation accuracy (a bank), else the
    /// card's test accuracy of the setting, then by more FLOPs per step, then later in the list.
    pub fn accuracy_ranking(&self) -> &[usize] {
        self.ranking
    }

    /// The option index of setting `name`, one of the names [`PolicyConfig::settings`] returned.
    ///
    /// # Errors
    /// [`PolicyError::UndeclaredSetting`] for any other name.
    pub fn setting(&self, name: &str) -> Result<usize, PolicyError> {
        self.named.iter().find(|(n, _)| n == name).map(|&(_, index)| index).ok_or_else(|| {
            PolicyError::UndeclaredSetting {
                policy: self.policy.to_string(),
                setting: name.to_string(),
                named: self.named.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "),
            }
        })
    }

    /// The load forecast of the last forecast pass, for a policy whose
    /// [`PolicyConfig::forecast_passes`] is positive (`None` otherwise, and during the first pass).
    pub fn forecast(&self) -> Option<&Arc<LoadForecast>> {
        self.forecast.as_ref()
    }

    /// A random stream of the policy's own (PCG-64 from the seed and `<stream name>/policy`), so that
    /// its draws leave every other draw of the run unchanged.
    pub fn rng(&self) -> rand_pcg::Pcg64 {
        process_rng(self.seed, &format!("{}/policy", self.stream.name))
    }
}

/// The object-safe face of a [`PolicyConfig`].
trait AnyConfig: fmt::Debug + Send + Sync {
    fn name(&self) -> &'static str;
    fn check_stream(&self, stream: &StreamSpec) -> Result<(), String>;
    fn label(&self) -> String;
    fn settings(&self) -> Vec<&str>;
    fn knob_step(&self) -> Option<f32>;
    fn forecast_passes(&self) -> usize;
    fn build(&self, context: &PolicyContext<'_>) -> Result<Box<dyn Policy>, PolicyError>;
    fn as_any(&self) -> &dyn Any;
    fn same_as(&self, other: &dyn Any) -> bool;
}

impl<T: PolicyConfig> AnyConfig for T {
    fn name(&self) -> &'static str {
        T::NAME
    }
    fn check_stream(&self, stream: &StreamSpec) -> Result<(), String> {
        PolicyConfig::check_stream(self, stream)
    }
    fn label(&self) -> String {
        PolicyConfig::label(self)
    }
    fn settings(&self) -> Vec<&str> {
        PolicyConfig::settings(self)
    }
    fn knob_step(&self) -> Option<f32> {
        PolicyConfig::knob_step(self)
    }
    fn forecast_passes(&self) -> usize {
        PolicyConfig::forecast_passes(self)
    }
    fn build(&self, context: &PolicyContext<'_>) -> Result<Box<dyn Policy>, PolicyError> {
        PolicyConfig::build(self, context)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn same_as(&self, other: &dyn Any) -> bool {
        other.downcast_ref::<T>() == Some(self)
    }
}

/// One policy as written in a scenario: a checked configuration of a registered kind. Cheap to clone.
///
/// Read from YAML (`greedy_slack: { safety: 0.9 }`) with the kinds of the registry the scenario is
/// parsed with ([`crate::scenario::Scenario::parse_with`]; the built-ins otherwise), or made in code
/// with [`PolicySpec::new`].
#[derive(Clone)]
pub struct PolicySpec(Arc<dyn AnyConfig>);

impl PolicySpec {
    /// A policy from its configuration.
    ///
    /// # Errors
    /// [`PolicyError::Invalid`] if [`PolicyConfig::validate`] refuses it.
    pub fn new<T: PolicyConfig>(config: T) -> Result<PolicySpec, PolicyError> {
        config.validate().map_err(|message| PolicyError::Invalid { policy: T::NAME.to_string(), message })?;
        Ok(PolicySpec(Arc::new(config)))
    }

    /// The kind's name (`greedy_slack`).
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// The label (see [`PolicyConfig::label`]).
    pub fn label(&self) -> String {
        self.0.label()
    }

    /// The setting names it names (see [`PolicyConfig::settings`]).
    pub fn settings(&self) -> Vec<&str> {
        self.0.settings()
    }

    /// See [`PolicyConfig::knob_step`].
    pub fn knob_step(&self) -> Option<f32> {
        self.0.knob_step()
    }

    /// See [`PolicyConfig::forecast_passes`].
    pub fn forecast_passes(&self) -> usize {
        self.0.forecast_passes()
    }

    /// See [`PolicyConfig::check_stream`].
    ///
    /// # Errors
    /// What is wrong and what is allowed.
    pub fn check_stream(&self, stream: &StreamSpec) -> Result<(), String> {
        self.0.check_stream(stream)
    }

    /// The configuration, if it is of kind `T`.
    pub fn config<T: PolicyConfig>(&self) -> Option<&T> {
        self.0.as_any().downcast_ref::<T>()
    }

    /// Builds the policy for one run of one stream (see [`PolicyConfig::build`]).
    ///
    /// # Errors
    /// As [`PolicyConfig::build`].
    pub(crate) fn build(&self, context: &PolicyContext<'_>) -> Result<Box<dyn Policy>, PolicyError> {
        self.0.build(context)
    }
}

impl fmt::Debug for PolicySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl PartialEq for PolicySpec {
    fn eq(&self, other: &PolicySpec) -> bool {
        self.0.same_as(other.0.as_any())
    }
}

/// A registered kind: its name, how it is written, and how it is read from a YAML value.
#[derive(Clone, Copy)]
struct Entry {
    name: &'static str,
    syntax: &'static str,
    type_id: TypeId,
    from_value: fn(serde_yaml::Value) -> Result<PolicySpec, String>,
}

/// The kinds of policy a scenario or study may name, by their YAML key.
///
/// [`PolicyRegistry::builtin`] holds the built-in kinds; a user adds theirs with
/// [`PolicyRegistry::with`] and hands the registry to [`crate::cli::main_with`] (the whole command
/// line) or to [`crate::scenario::Scenario::parse_with`] / [`crate::study::spec::Study::load_with`].
#[derive(Clone)]
pub struct PolicyRegistry {
    /// In registration order (error messages list them so).
    entries: Vec<Entry>,
}

impl Default for PolicyRegistry {
    /// The built-in kinds ([`PolicyRegistry::builtin`]).
    fn default() -> PolicyRegistry {
        PolicyRegistry::builtin()
    }
}

impl fmt::Debug for PolicyRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl PolicyRegistry {
    /// The built-in kinds: `static`, `greedy_slack`, `threshold`, `pid`, `budget`, `random`,
    /// `confidence` and `oracle` (registered in `builtin_policies!` of [`crate::policy`]).
    pub fn builtin() -> PolicyRegistry {
        super::register_builtins(PolicyRegistry::empty())
    }

    /// No kinds at all.
    pub fn empty() -> PolicyRegistry {
        PolicyRegistry { entries: Vec::new() }
    }

    /// Adds kind `T` under [`PolicyConfig::NAME`], replacing a kind registered under that name.
    pub fn with<T: PolicyConfig>(mut self) -> PolicyRegistry {
        let entry = Entry { name: T::NAME, syntax: T::SYNTAX, type_id: TypeId::of::<T>(), from_value: from_value::<T> };
        match self.entries.iter_mut().find(|e| e.name == T::NAME) {
            Some(existing) => *existing = entry,
            None => self.entries.push(entry),
        }
        self
    }

    /// The registered names, in registration order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.entries.iter().map(|e| e.name)
    }

    /// Whether `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.iter().any(|e| e.name == name)
    }

    /// Runs `f` (which parses YAML) with this registry as the one [`PolicySpec`]s are read with on this
    /// thread, restoring the previous one afterwards.
    pub(crate) fn scope<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Restore(Option<PolicyRegistry>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let previous = self.0.take();
                CURRENT.with(|current| *current.borrow_mut() = previous);
            }
        }
        let _restore = Restore(CURRENT.with(|current| current.replace(Some(self.clone()))));
        f()
    }

    /// "`a: {…}`, `b: {…}` or `c: {…}`": every kind as written.
    fn syntaxes(&self) -> String {
        let all: Vec<&str> = self.entries.iter().map(|e| e.syntax).collect();
        match all.split_last() {
            None => "(no policy is registered)".into(),
            Some((last, [])) => (*last).to_string(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        }
    }
}

thread_local! {
    /// The registry [`PolicySpec`]'s `Deserialize` reads kinds from (see [`PolicyRegistry::scope`]);
    /// `None`: the built-ins.
    static CURRENT: RefCell<Option<PolicyRegistry>> = const { RefCell::new(None) };
}

/// Reads a kind registered by a user from its YAML value: the error names the kind and, when a field's
/// value has the wrong type, that field.
fn from_value<T: PolicyConfig>(value: serde_yaml::Value) -> Result<PolicySpec, String> {
    match T::deserialize(value.clone()) {
        Ok(config) => PolicySpec::new(config).map_err(|e| e.to_string()),
        Err(error) => {
            let message = error.to_string();
            Err(match offending_field::<T>(&value, &message) {
                Some(field) => format!("{}.{field}: {message}", T::NAME),
                None => format!("{}: {message}", T::NAME),
            })
        }
    }
}

/// For an error that does not name its field (a value of the wrong type), the field of the mapping
/// `value` whose removal makes that error go away (it then reads, or only misses that field).
fn offending_field<T: PolicyConfig>(value: &serde_yaml::Value, message: &str) -> Option<String> {
    if message.contains('`') {
        return None; // unknown, missing or duplicate field: serde names it
    }
    let mapping = value.as_mapping()?;
    mapping.keys().find_map(|key| {
        let mut without = mapping.clone();
        without.remove(key);
        let fixed = match T::deserialize(serde_yaml::Value::Mapping(without)) {
            Ok(_) => true,
            Err(e) => e.to_string().starts_with("missing field"),
        };
        fixed.then(|| key.as_str().map_or_else(|| format!("{key:?}"), str::to_string))
    })
}

impl<'de> Deserialize<'de> for PolicySpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<PolicySpec, D::Error> {
        let registry = CURRENT.with(|current| current.borrow().clone()).unwrap_or_else(PolicyRegistry::builtin);
        deserializer.deserialize_map(SpecVisitor(registry))
    }
}

/// A policy in a scenario's or study's JSON Schema: a one-key map, one of the kinds of the registry
/// the schema is made with ([`crate::scenario::scenario_json_schema`],
/// [`crate::study::spec::study_json_schema`]; the built-ins otherwise). A built-in kind's
/// configuration has its own schema; a kind registered by a program is any value there (the schema
/// cannot know its fields; reading the file checks them).
impl schemars::JsonSchema for PolicySpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PolicySpec".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let registry = CURRENT.with(|current| current.borrow().clone()).unwrap_or_else(PolicyRegistry::builtin);
        let kinds: Vec<serde_json::Value> = registry
            .entries
            .iter()
            .map(|entry| {
                let config = super::builtin_config_schema(entry.type_id, generator).unwrap_or_else(|| {
                    schemars::json_schema!({ "description": format!("A kind registered by the program, written {}.", entry.syntax) })
                });
                serde_json::json!({
                    "type": "object",
                    "description": format!("Written {}.", entry.syntax),
                    "properties": { entry.name: config },
                    "required": [entry.name],
                    "additionalProperties": false,
                })
            })
            .collect();
        schemars::json_schema!({
            "description": format!("A policy: a one-key map naming its kind, the value its configuration: {}.", registry.syntaxes()),
            "oneOf": kinds,
        })
    }
}

struct SpecVisitor(PolicyRegistry);

impl<'de> Visitor<'de> for SpecVisitor {
    type Value = PolicySpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a policy: {}", self.0.syntaxes())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PolicySpec, A::Error> {
        let exactly_one = || A::Error::custom(format!("policy: give exactly one of {}", self.0.syntaxes()));
        let Some(name) = map.next_key::<String>()? else { return Err(exactly_one()) };
        let Some(entry) = self.0.entries.iter().find(|e| e.name == name) else {
            let names: Vec<String> = self.0.names().map(|n| format!("`{n}`")).collect();
            return Err(A::Error::custom(format!("unknown policy `{name}`, expected one of {}", names.join(", "))));
        };
        let spec = match super::read_builtin(entry.type_id, &mut map) {
            Some(read) => read?,
            None => (entry.from_value)(map.next_value::<serde_yaml::Value>()?).map_err(A::Error::custom)?,
        };
        if map.next_key::<IgnoredAny>()?.is_some() {
            return Err(exactly_one());
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kind of the user's: reads through a YAML value.
    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Every {
        steps: u32,
        #[serde(default)]
        model: Option<String>,
    }

    impl PolicyConfig for Every {
        const NAME: &'static str = "every";
        const SYNTAX: &'static str = "`every: { steps: <n> }`";
        fn validate(&self) -> Result<(), String> {
            if self.steps == 0 {
                return Err("steps must be at least 1".into());
            }
            Ok(())
        }
        fn label(&self) -> String {
            format!("every{}", self.steps)
        }
        fn build(&self, _context: &PolicyContext<'_>) -> Result<Box<dyn Policy>, PolicyError> {
            Err(PolicyError::Invalid { policy: "every".into(), message: "not for running".into() })
        }
    }

    fn read(registry: &PolicyRegistry, text: &str) -> Result<PolicySpec, String> {
        registry
            .scope(|| serde_yaml::from_str::<Vec<PolicySpec>>(text))
            .map(|mut v| v.remove(0))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn unknown_names_list_every_registered_kind() {
        let registry = PolicyRegistry::builtin().with::<Every>();
        let error = read(&registry, "- evry: { steps: 2 }").unwrap_err();
        assert!(
            error.contains("unknown policy `evry`, expected one of `static`, `greedy_slack`, `threshold`, `pid`, `budget`, `random`, `confidence`, `oracle`, `every`"),
            "{error}"
        );
        // Without the user's kind (the built-ins only), `every` is unknown.
        assert!(read(&PolicyRegistry::builtin(), "- every: { steps: 2 }")
            .unwrap_err()
            .contains("unknown policy `every`"));
    }

    #[test]
    fn a_user_kind_reads_checks_and_names_its_fields() {
        let registry = PolicyRegistry::builtin().with::<Every>();
        let spec = read(&registry, "- every: { steps: 3 }").unwrap();
        assert_eq!((spec.name(), spec.label()), ("every", "every3".to_string()));
        assert_eq!(spec.config::<Every>(), Some(&Every { steps: 3, model: None }));
        assert_eq!(spec, PolicySpec::new(Every { steps: 3, model: None }).unwrap());
        let zero = read(&registry, "- every: { steps: 0 }").unwrap_err();
        assert!(zero.ends_with("[0]: every: steps must be at least 1 at line 1 column 3"), "{zero}");
        let typed = read(&registry, "- every: { steps: 3, model: [a] }").unwrap_err();
        assert!(typed.contains("every.model: invalid type: sequence"), "{typed}");
        let unknown = read(&registry, "-\n  every:\n    steps: 3\n    stps: 1\n").unwrap_err();
        assert!(unknown.contains("every: unknown field `stps`") && unknown.contains("line 2 column 3"), "{unknown}");
        let two = read(&registry, "- { every: { steps: 3 }, random: {} }").unwrap_err();
        assert!(two.contains("policy: give exactly one of `static: { model: <name> }`"), "{two}");
        assert!(two.contains("`oracle: { margin: <duration>, passes: <number ≥ 1> }` or `every: { steps: <n> }`"));
    }

    #[test]
    fn a_registered_name_replaces_the_kind_of_that_name() {
        #[derive(Debug, PartialEq, Deserialize)]
        struct Random {}
        impl PolicyConfig for Random {
            const NAME: &'static str = "random";
            const SYNTAX: &'static str = "`random: {}`";
            fn label(&self) -> String {
                "my-random".into()
            }
            fn build(&self, _context: &PolicyContext<'_>) -> Result<Box<dyn Policy>, PolicyError> {
                Err(PolicyError::Invalid { policy: "random".into(), message: "not for running".into() })
            }
        }
        let registry = PolicyRegistry::builtin().with::<Random>();
        assert_eq!(registry.names().count(), 8);
        assert_eq!(
            PolicyRegistry::default().names().collect::<Vec<_>>(),
            PolicyRegistry::builtin().names().collect::<Vec<_>>()
        );
        assert_eq!(read(&registry, "- random: {}").unwrap().label(), "my-random");
        assert_eq!(read(&PolicyRegistry::builtin(), "- random: {}").unwrap().label(), "random");
    }
}
