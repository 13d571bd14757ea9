"""The channel-neutral chat core: types, tokenizer, dispatcher, conversation state."""
