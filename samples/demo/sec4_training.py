"""A student's section 4: an unstable loss and a per-batch mean; evaluate, fit and 4.5 are right."""
import torch


def cross_entropy(logits, target):
    probs = torch.softmax(logits, dim=1)
    return -torch.log(probs[range(len(target)), target]).mean()


def train_one_epoch(model, loader, loss_fn, optimizer):
    model.train()
    losses = []
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


def evaluate(model, loader, loss_fn):
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    with torch.inference_mode():
        for inputs, targets in loader:
            out = model(inputs)
            total_loss += loss_fn(out, targets).item() * targets.shape[0]
            correct += int((out.argmax(1) == targets).sum())
            seen += targets.shape[0]
    return total_loss / seen, correct / seen


def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs):
    history = {"train_loss": [], "val_loss": []}
    for epoch in range(epochs):
        history["train_loss"].append(train_one_epoch(model, train_loader, loss_fn, optimizer))
        history["val_loss"].append(evaluate(model, val_loader, loss_fn)[0])
    return history


def why_validation_loss_is_higher():
    return "c"
