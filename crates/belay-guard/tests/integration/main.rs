//! belay-guard's tests: each rule with positive and negative cases, the actions, robustness on
//! garbage input, and the corpus targets on the test split.

mod arguments;
mod corpus;
mod injection;
mod links;
mod pin;
mod poisoning;
mod robustness;
mod secrets;
mod shadowing;
mod voices;
