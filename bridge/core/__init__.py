"""Pure domain: ids, validators, models and the state machines. Events in, decisions out."""
